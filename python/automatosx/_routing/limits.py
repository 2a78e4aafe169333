"""A request's own limits, in place of its deployment's: ``maxRetries`` and ``timeoutMs``.

``ProviderRequest.max_retries`` is how many times this request retries the same deployment
(each candidate's retry count starts again at a fallback); ``ProviderRequest.timeout_ms`` is
this request's time limit per attempt: what the deployment's ``timeout`` is otherwise (the
whole attempt of ``execute``; a stream's wait for its first chunk, still capped by
``firstTokenTimeoutMs``). Unset, the deployment's own apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automatosx._routing.plan import Deployment
    from automatosx.schemas import ProviderRequest

__all__ = ["retries_of", "timeout_of"]


def retries_of(request: ProviderRequest, dep: Deployment) -> int:
    """The retries of ``dep`` this request may make."""
    mine = request.max_retries
    return dep.max_retries if mine is None else mine


def timeout_of(request: ProviderRequest, dep: Deployment) -> float:
    """This request's time limit per attempt at ``dep``, in seconds."""
    mine = request.timeout_ms
    return dep.timeout_s if mine is None else mine / 1000
