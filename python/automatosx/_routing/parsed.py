"""Structured output with re-asking: ``execute(request, response_model=T,
max_validation_retries=N)``.

:func:`execute_parsed` runs the request as ``execute`` does (``attempt.execute``), with a
check after each reply (:class:`Reask`): while tries are left, a reply that does not validate
as ``T`` is re-asked on the same candidate — the request as sent, the assistant's reply, and a
user message naming the validation errors (:func:`reask_request`). :class:`ParsedRun` owns
that transition: the attempt is recorded failed with code ``OUTPUT_VALIDATION`` (decision
``retry``), its guards are settled as a success (the provider answered and its tokens are
spent), and the state machine starts the request over at the same candidate (``reset``, then
``initiate_request`` and ``validation_passed``: its history keeps every state, and each re-ask
gets the candidate's own retries). One request, one row, an attempt per try. A fallback after
a re-ask sends the next candidate the original request. After the last try the reply completes
the request as without retries, and the caller gets ``OutputValidationError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from automatosx._core import Event, ProviderStateMachine
from automatosx._output import (
    ParsedResponse,
    UnusableOutputType,
    accepting,
    parse_output,
    with_response_model,
)
from automatosx._routing.attempt import execute
from automatosx._routing.limits import retries_of
from automatosx._routing.run import Run
from automatosx.errors import OutputValidationError, RequestValidationError
from automatosx.schemas import Message, ProviderRequest, ProviderResponse

if TYPE_CHECKING:
    from automatosx._routing.intake import Intake
    from automatosx._routing.plan import Deployment

__all__ = [
    "MAX_VALIDATION_RETRIES",
    "ParsedRun",
    "Reask",
    "execute_parsed",
    "reask_request",
]

MAX_VALIDATION_RETRIES = 10
"""The most re-asks one call may make (``maxValidationRetries``)."""
_SHOWN_ERRORS = 10
_PASSED = Event.validation_passed()


class ParsedRun(Run):
    """The Run of a structured request that may re-ask. Its machine allows any candidate's
    retries (the policy still counts each candidate's own): after a re-ask's ``reset`` the
    machine has its constructor's budget, whichever candidate the request is at."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.request
        most = max(retries_of(request, dep) for dep, _ in self.cands)
        self.machine = ProviderStateMachine(
            request.request_id, max_retries=most, fallback_providers=self.labels
        )

    async def reasked(
        self, dep: Deployment, response: ProviderResponse, error: OutputValidationError
    ) -> None:
        """The reply at ``dep`` did not validate and a try is left: record the attempt
        failed (``OUTPUT_VALIDATION``, decision ``retry``) and ask ``dep`` again."""
        self.succeeded(dep, response)  # guards and reservations: the provider did answer
        m = self.machine
        model = m.context.model
        m.transition(Event.request_failed(error=str(error), code=error.code, retryable=False))
        await self.ended(dep, self.began, error, "retry", 0)
        req = self.request
        m.transition(Event.reset())
        m.transition(
            Event.initiate_request(
                provider=dep.name,
                model=model,
                message_count=len(req.messages),
                max_tokens=req.max_tokens,
                temperature=req.temperature,
                stream=False,
            )
        )
        m.transition(_PASSED)
        self.sent = reask_request(self.sent, response.content, error)


class Reask:
    """The check after each reply: True to accept it, False after a re-ask was set up."""

    __slots__ = ("left", "output_type")

    def __init__(self, output_type: Any, retries: int) -> None:
        self.output_type = output_type
        self.left = retries

    async def __call__(self, run: Run, dep: Deployment, response: ProviderResponse) -> bool:
        if self.left <= 0:
            return True  # the last try: the caller parses it (and may get the error)
        try:
            parse_output(response, self.output_type)
        except OutputValidationError as exc:
            self.left -= 1
            assert isinstance(run, ParsedRun)
            await run.reasked(dep, response, exc)
            return False
        return True


def reask_request(
    sent: ProviderRequest, reply: str, error: OutputValidationError
) -> ProviderRequest:
    """``sent`` with the assistant's ``reply`` and a user message naming what was wrong."""
    lines = [
        f"- {'.'.join(str(p) for p in e.get('loc', ())) or '(root)'}: {e.get('msg', 'invalid')}"
        for e in error.errors[:_SHOWN_ERRORS]
    ]
    more = len(error.errors) - _SHOWN_ERRORS
    if more > 0:
        lines.append(f"- and {more} more")
    text = (
        "Your reply does not match the required JSON schema:\n"
        + "\n".join(lines or ["- it is not valid JSON"])
        + "\nReply again with only the corrected JSON."
    )
    messages = [
        *sent.messages,
        Message(role="assistant", content=reply or "(an empty reply)"),
        Message(role="user", content=text),
    ]
    return sent.model_copy(update={"messages": messages})


def validation_retries(value: Any) -> int | None:
    """``value`` as a number of re-asks, or None when it is not one (0..10, an int)."""
    if type(value) is int and 0 <= value <= MAX_VALIDATION_RETRIES:
        return value
    return None


async def execute_parsed(
    intake: Intake,
    request: ProviderRequest | Mapping[str, Any],
    output_type: Any,
    retries: Any,
    tasks: set[asyncio.Task[Any]],
) -> ParsedResponse[Any]:
    """``execute(request, response_model=output_type, max_validation_retries=retries)``."""
    tries = validation_retries(retries)
    try:
        if tries is None:
            raise UnusableOutputType(
                f"max_validation_retries: expected an integer from 0 to "
                f"{MAX_VALIDATION_RETRIES}, got {retries!r}"
            )
        request = with_response_model(request, output_type)
    except UnusableOutputType as exc:
        message = f"invalid request: {exc}"
        await intake.reject(request, False, message)
        raise RequestValidationError(message) from None
    run = await intake.open(request, False, ParsedRun if tries else None)
    task = asyncio.current_task()
    if task is not None:
        tasks.add(task)
    try:
        response = await execute(
            run, Reask(output_type, tries) if tries else None, accepting(output_type)
        )
    finally:
        tasks.discard(task)
    assert isinstance(response, ParsedResponse)
    return response
