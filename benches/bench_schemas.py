"""Validation of a typical request, the dict a caller hands to ``Router.execute``."""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from _budget import info
from _stub import PROMPT
from automatosx.schemas import ProviderRequest

WITH_ID = {**PROMPT, "requestId": "6f1c1f5e-0a6b-4d5e-9a7b-2c3d4e5f6a7b"}


@pytest.mark.benchmark(group="schemas")
@pytest.mark.parametrize("request_id", ["generated", "given"])
def test_validate_request(benchmark: BenchmarkFixture, request_id: str) -> None:
    """dict -> ProviderRequest: two messages, maxTokens, temperature; without a requestId
    the model generates one (UUID4), with one it checks the UUID pattern."""
    raw = PROMPT if request_id == "generated" else WITH_ID
    benchmark(ProviderRequest.model_validate, raw)
    assert benchmark.stats is not None
    info(f"schemas: validate request (id {request_id})", benchmark.stats.stats.median * 1e6, "us")
