"""The top-level body fields each service accepts; any other is a 400, as the services answer.

Taken from the official SDKs' own request types (the test `test_emulator_fields.py` derives
them again from the installed SDKs and checks that every field an SDK can send is here):

- Anthropic: `anthropic.types.MessageCreateParams` and the beta one
  (`anthropic.types.beta.MessageCreateParams`), plus `stream` and the sampling fields the
  API takes that newer SDKs send through `extra_body` (`temperature`, `top_p`, `top_k`) and
  the structured-output beta's `output_format`. `betas` travels as a header, not here.
- OpenAI: `openai.types.chat.CompletionCreateParams` (plus `stream`) and
  `openai.types.responses.ResponseCreateParams` (plus `stream`).
- Gemini: the fields google-genai's `GenerateContentConfig` converters write into the
  `GenerateContentRequest` (Gemini API and Vertex AI), plus the request's own `model`. Proto
  JSON also takes them in snake_case; the check runs after `camel_keys`.
"""

from __future__ import annotations

__all__ = ["ACCEPTED_FIELDS"]

_ANTHROPIC = frozenset(
    {
        # anthropic.types.MessageCreateParams
        "cache_control",
        "container",
        "diagnostics",
        "inference_geo",
        "max_tokens",
        "messages",
        "metadata",
        "model",
        "output_config",
        "service_tier",
        "speed",
        "stop_sequences",
        "system",
        "thinking",
        "tool_choice",
        "tools",
        "user_profile_id",
        "workspace_id",
        # anthropic.types.beta.MessageCreateParams (betas: a header)
        "billing_policy",
        "compaction",
        "context_management",
        "fallback_credit_token",
        "fallbacks",
        "mcp_servers",
        "thread",
        "output_format",
        # the API's, sent by older SDKs as parameters and by newer ones in extra_body
        "stream",
        "temperature",
        "top_k",
        "top_p",
    }
)

_OPENAI_CHAT = frozenset(
    {
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "messages",
        "metadata",
        "modalities",
        "model",
        "moderation",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)

_OPENAI_RESPONSES = frozenset(
    {
        "access_programs",
        "background",
        "background_options",
        "context_management",
        "conversation",
        "image",
        "include",
        "input",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "model",
        "moderation",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)

_GEMINI = frozenset(
    {
        "model",
        "contents",
        "generationConfig",
        "cachedContent",
        "continuationToken",
        "labels",
        "safetySettings",
        "serviceTier",
        "store",
        "systemInstruction",
        "toolConfig",
        "tools",
    }
)
_VERTEX = _GEMINI | {"modelArmorConfig", "outputConfig"}

ACCEPTED_FIELDS: dict[str, frozenset[str]] = {
    "claude": _ANTHROPIC,
    "openai": _OPENAI_CHAT,
    "azure": _OPENAI_CHAT | {"data_sources"},  # Azure's "On Your Data" extension
    "responses": _OPENAI_RESPONSES,
    "gemini": _GEMINI,
    "vertex": _VERTEX,
}
