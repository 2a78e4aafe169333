"""Recorded traffic to replay: vcrpy-style YAML cassettes and bare Anthropic SSE bodies.

A cassette (`*.yaml`, as written by vcrpy / pydantic-ai) holds `interactions`, each a
`request` (method, uri) and a `response` (status.code, headers, and either `parsed_body` —
decoded JSON, re-dumped when served — or `body.string`, served verbatim). A `*.sse.txt` file
is the raw body of one Anthropic streaming `POST /v1/messages` response. Reading YAML needs
PyYAML.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Recording", "load_recordings", "normalize_path"]

# Framing and transport headers belong to the recorded connection, not to the replay.
_DROPPED_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "content-encoding", "connection", "keep-alive"}
)
_GEMINI_VERSION = re.compile(r"^/v1(beta|alpha)?(?=/)")


def normalize_path(path: str) -> str:
    """The path part of a URI or path, with Gemini's /v1beta and /v1alpha read as /v1."""
    return _GEMINI_VERSION.sub("/v1", urlsplit(path).path or "/")


@dataclass
class Recording:
    """One recorded response, and the request it answered."""

    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: bytes
    source: str
    request_body: Any = None
    served: bool = field(default=False, compare=False)

    @property
    def is_stream(self) -> bool:
        return self.headers.get("content-type", "").startswith("text/event-stream")


def load_recordings(path: str | Path) -> list[Recording]:
    """Read a cassette or a bare `.sse.txt` body into recordings, in order."""
    path = Path(path)
    if path.name.endswith(".sse.txt"):
        return [
            Recording(
                method="POST",
                path="/v1/messages",
                status=200,
                headers={"content-type": "text/event-stream; charset=utf-8"},
                body=path.read_bytes(),
                source=path.name,
                request_body={"stream": True},
            )
        ]
    import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        _recording(interaction, f"{path.name}#{index}")
        for index, interaction in enumerate(data.get("interactions", []))
    ]


def _recording(interaction: dict[str, Any], source: str) -> Recording:
    request, response = interaction["request"], interaction["response"]
    headers = {
        name.lower(): ", ".join(str(v) for v in values) if isinstance(values, list) else str(values)
        for name, values in (response.get("headers") or {}).items()
        if name.lower() not in _DROPPED_HEADERS
    }
    if "parsed_body" in response:
        body = json.dumps(response["parsed_body"]).encode()
        headers.setdefault("content-type", "application/json")
    else:
        raw = (response.get("body") or {}).get("string", "")
        body = raw.encode() if isinstance(raw, str) else bytes(raw)
    return Recording(
        method=str(request["method"]).upper(),
        path=normalize_path(str(request["uri"])),
        status=int(response["status"]["code"]),
        headers=headers,
        body=body,
        source=source,
        request_body=request.get("parsed_body"),
    )
