"""OpenAI's Responses API: `POST /v1/responses`, JSON and `event:` SSE.

Shapes follow the recordings in `shared/conformance/openai/responses_*` and the openai SDK's
types: a `response` object whose `output` holds `reasoning`, `message` (`output_text` parts)
and `function_call` items; a stream of `response.created`, `response.in_progress`, per item
`response.output_item.added` ... `response.output_item.done` (text as
`response.output_text.delta`, call arguments as `response.function_call_arguments.delta`),
then `response.completed` (or `response.incomplete` when `max_output_tokens` cut the text),
every event with its `sequence_number`. Errors, keys and rate-limit headers are Chat
Completions' (this wire is an `OpenAIWire` with another parser and renderer); faults and
rules address it as provider "openai".
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request

from automatosx.emulator._openai import OpenAIWire
from automatosx.emulator._reply import Prompt, Reply
from automatosx.emulator._wire import StreamBody, WireError, dumps, new_id

__all__ = ["ResponsesWire"]


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: ".encode() + dumps(event) + b"\n\n"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        ).strip()
    return ""


def _item_chars(item: Any) -> int:
    if not isinstance(item, dict):
        return 0
    if "content" in item:
        return len(_text_of(item["content"]))
    if item.get("type") == "function_call_output":
        output = item.get("output", "")
        return len(output if isinstance(output, str) else json.dumps(output))
    if item.get("type") == "function_call":
        return len(str(item.get("arguments", "")))
    return 0


class ResponsesWire(OpenAIWire):
    """The Responses API dialect of the OpenAI wire."""

    dialect = "responses"

    def parse(self, body: bytes, request: Request) -> Prompt:
        try:
            data = json.loads(body)
        except ValueError:
            raise WireError(400, "We could not parse the JSON body of your request.") from None
        if not isinstance(data, dict):
            raise WireError(400, "We could not parse the JSON body of your request.")
        if "model" not in data:
            raise WireError(
                400,
                "Missing required parameter: 'model'.",
                error="missing_required_parameter",
                param="model",
            )
        raw = data.get("input")
        if isinstance(raw, str):
            items: list[Any] = [{"role": "user", "content": raw}]
        elif isinstance(raw, list):
            items = raw
        else:
            raise WireError(
                400,
                "Invalid type for 'input': expected a string or an array of input items.",
                error="invalid_type",
                param="input",
            )
        users = [i for i in items if isinstance(i, dict) and i.get("role") == "user"]
        instructions = data.get("instructions")
        chars = len(instructions) if isinstance(instructions, str) else 0
        chars += sum(_item_chars(i) for i in items)
        max_tokens = data.get("max_output_tokens")
        return Prompt(
            model=str(data["model"]),
            last_user_text=_text_of(users[-1].get("content")) if users else "",
            prompt_chars=chars,
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            stream=bool(data.get("stream", False)),
            body=data | {"input": items},
        )

    def _response_usage(self, prompt: Prompt, reply: Reply) -> dict[str, Any]:
        return {
            "input_tokens": prompt.input_tokens,
            "input_tokens_details": {"cached_tokens": prompt.cache_read_tokens},
            "output_tokens": reply.output_tokens,
            "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
            "total_tokens": prompt.input_tokens + reply.output_tokens,
        }

    def _items(self, reply: Reply) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        if reply.reasoning_tokens:
            items.append({"type": "reasoning", "id": new_id("rs_emu"), "summary": []})
        if reply.words:
            status = "incomplete" if reply.truncated else "completed"
            items.append(
                {
                    "type": "message",
                    "id": new_id("msg_emu"),
                    "status": status,
                    "role": "assistant",
                    "content": [
                        {
                            "type": "output_text",
                            "text": reply.text,
                            "annotations": [],
                            "logprobs": [],
                        }
                    ],
                }
            )
        for call in reply.tool_calls:
            items.append(
                {
                    "type": "function_call",
                    "id": new_id("fc_emu"),
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": call.arguments_json,
                    "status": "completed",
                }
            )
        return items

    def _envelope(
        self, prompt: Prompt, status: str, output: list[dict[str, Any]], response_id: str
    ) -> dict[str, Any]:
        body = prompt.body
        tools = [
            {"description": None, "strict": True} | t
            for t in body.get("tools") or []
            if isinstance(t, dict)
        ]
        text = body.get("text")
        text = text if isinstance(text, dict) else {}
        reasoning = body.get("reasoning")
        reasoning = reasoning if isinstance(reasoning, dict) else {}
        return {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "error": None,
            "incomplete_details": (
                {"reason": "max_output_tokens"} if status == "incomplete" else None
            ),
            "instructions": body.get("instructions"),
            "max_output_tokens": prompt.max_tokens,
            "model": prompt.model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}} | text,
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": tools,
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": None,
            "user": None,
            "metadata": body.get("metadata") or {},
        }

    def reply_json(self, prompt: Prompt, reply: Reply) -> dict[str, Any]:
        status = "incomplete" if reply.truncated else "completed"
        response = self._envelope(prompt, status, self._items(reply), new_id("resp_emu"))
        response["usage"] = self._response_usage(prompt, reply)
        return response

    def reply_stream(self, prompt: Prompt, reply: Reply) -> StreamBody:
        counter = iter(range(1 << 30))

        def event(kind: str, **fields: Any) -> bytes:
            return _sse({"type": kind, "sequence_number": next(counter)} | fields)

        response_id = new_id("resp_emu")
        started = self._envelope(prompt, "in_progress", [], response_id)
        body = StreamBody(
            preamble=[
                event("response.created", response=started),
                event("response.in_progress", response=started),
            ]
        )
        items = self._items(reply)
        for index, item in enumerate(items):
            body.chunks += self._item_events(event, index, item, reply)
        status = "incomplete" if reply.truncated else "completed"
        finished = self._envelope(prompt, status, items, response_id)
        finished["usage"] = self._response_usage(prompt, reply)
        body.epilogue.append(event(f"response.{status}", response=finished))
        return body

    def _item_events(
        self, event: Any, index: int, item: dict[str, Any], reply: Reply
    ) -> list[bytes]:
        item_id = item["id"]
        if item["type"] == "message":
            empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            part = item["content"][0]
            where = {"item_id": item_id, "output_index": index, "content_index": 0}
            return [
                event(
                    "response.output_item.added",
                    output_index=index,
                    item=item | {"status": "in_progress", "content": []},
                ),
                event("response.content_part.added", **where, part=empty),
                *[
                    event("response.output_text.delta", **where, delta=text, logprobs=[])
                    for text in reply.chunks()
                ],
                event("response.output_text.done", **where, text=part["text"], logprobs=[]),
                event("response.content_part.done", **where, part=part),
                event("response.output_item.done", output_index=index, item=item),
            ]
        if item["type"] == "function_call":
            call = next(c for c in reply.tool_calls if c.id == item["call_id"])
            where = {"item_id": item_id, "output_index": index}
            return [
                event(
                    "response.output_item.added",
                    output_index=index,
                    item=item | {"arguments": "", "status": "in_progress"},
                ),
                *[
                    event("response.function_call_arguments.delta", **where, delta=part)
                    for part in call.argument_chunks()
                ],
                event(
                    "response.function_call_arguments.done", **where, arguments=item["arguments"]
                ),
                event("response.output_item.done", output_index=index, item=item),
            ]
        return [
            event("response.output_item.added", output_index=index, item=item),
            event("response.output_item.done", output_index=index, item=item),
        ]

    def stream_error_event(self, status: int, error: str | None, message: str | None) -> bytes:
        # The service's in-stream error event; its sequence number is not known here.
        detail = self._error(status, error, message)
        return _sse(
            {
                "type": "error",
                "code": detail["code"] or detail["type"],
                "message": detail["message"],
                "param": None,
                "sequence_number": 0,
            }
        )
