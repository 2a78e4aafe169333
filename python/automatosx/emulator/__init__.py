"""A local fake of the Anthropic, OpenAI and Gemini wire protocols, with scripted faults.

Point the official SDKs (or anything that speaks these APIs) at it to exercise retries,
fallback and streaming without the network, an account, or cost.

On loopback (tests, demos, your own code):

    from automatosx.emulator import EmulatorServer, Rule, Scenario

    scenario = Scenario([Rule(provider="claude", first=1, status=429, retry_after=1)])
    with EmulatorServer(scenario) as srv:            # `async with` works too
        claude = anthropic.Anthropic(api_key="k", base_url=srv.anthropic_base_url)
        gpt = openai.OpenAI(api_key="k", base_url=srv.openai_base_url)
        gemini = genai.Client(api_key="k",
                              http_options=types.HttpOptions(base_url=srv.gemini_base_url))

In-process, no sockets (benchmarks, fast tests): `create_app()` is an ASGI app; give each SDK
an `httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))` as its `http_client`
(google-genai: `HttpOptions(base_url=..., httpx_async_client=...)`).

The clouds' doors are served on the same origin: Azure OpenAI
(`openai.AzureOpenAI(azure_endpoint=srv.azure_endpoint, api_version=..., api_key=...)`) and
Gemini on Vertex AI in express mode (`genai.Client(vertexai=True, api_key=...,
http_options=types.HttpOptions(base_url=srv.vertex_base_url))`).

From a shell: `automatosx emulate --port 8765 --scenario faults.toml` (see `serve`); it
prints the URL each kind of client needs (`banner`).

Bodies are validated like the services validate them: malformed JSON, wrong types, values
out of range, unknown roles and absurdly nested JSON get a 400 in the provider's own error
shape; unknown routes get a JSON 404 in it too.

Replies are deterministic ("Emulated reply from <model> to: <your words> ..."), with input
tokens ~ prompt characters / 4 and one output token per word; `max_tokens` truncates (finish
reason "length" / "max_tokens" / "MAX_TOKENS"). Scripted faults — statuses, latency,
mid-stream errors, drops, silence, a late first token, stalls, cut streams, malformed events,
context-length and content-filter answers: see `Scenario` and `Fault`.
Prompts are cached like the services cache them (per API key, origin and model; minimum
lengths, Anthropic's breakpoints, TTLs): see `PromptCache`.
Recorded traffic can be replayed instead: `create_replay_app(*cassettes)`.
"""

from __future__ import annotations

from automatosx.emulator._app import create_app, create_replay_app
from automatosx.emulator._conformance import CONFORMANCE_ENV, conformance_dir, conformance_files
from automatosx.emulator._prompt_cache import CacheStats, PromptCache
from automatosx.emulator._replay import Recording, load_recordings
from automatosx.emulator._reply import Prompt, Reply, compose_reply, estimate_tokens
from automatosx.emulator._responses import DroppedConnection
from automatosx.emulator._scenario import (
    PROVIDERS,
    Fault,
    FaultKind,
    MalformedKind,
    RefusalKind,
    Rule,
    Scenario,
    ScenarioError,
)
from automatosx.emulator._server import EmulatorBindError, EmulatorServer, banner, serve

__all__ = [
    "CONFORMANCE_ENV",
    "CacheStats",
    "DroppedConnection",
    "EmulatorBindError",
    "EmulatorServer",
    "Fault",
    "FaultKind",
    "MalformedKind",
    "PROVIDERS",
    "Prompt",
    "PromptCache",
    "Recording",
    "RefusalKind",
    "Reply",
    "Rule",
    "Scenario",
    "ScenarioError",
    "banner",
    "compose_reply",
    "conformance_dir",
    "conformance_files",
    "create_app",
    "create_replay_app",
    "estimate_tokens",
    "load_recordings",
    "serve",
]
