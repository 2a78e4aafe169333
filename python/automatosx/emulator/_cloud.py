"""The clouds' own doors to the same models: Azure OpenAI and Gemini on Vertex AI.

    POST /openai/deployments/{deployment}/chat/completions?api-version=...     Azure OpenAI
    POST /{v1,v1beta1}/publishers/google/models/{model}:generateContent        Vertex AI,
         (and :streamGenerateContent?alt=sse; also under                       express mode
         /{version}/projects/{project}/locations/{location}/publishers/google/models/...)

Azure speaks OpenAI's chat protocol with an `api-key` header, a deployment name in the path
(any name is a deployment unless the scenario lists `models`) and an `api-version` query
parameter. Vertex speaks Gemini's protocol with an API key (`x-goog-api-key`, express mode)
or a bearer token. Both count and fault as their protocol's provider ("openai", "gemini").
"""

from __future__ import annotations

import json

from starlette.requests import Request

from automatosx.emulator._gemini import GeminiWire
from automatosx.emulator._openai import OpenAIWire
from automatosx.emulator._reply import Prompt
from automatosx.emulator._wire import Quota, WireError, dumps

__all__ = ["AZURE_API_VERSION", "AzureWire", "VERTEX_VERSIONS", "VertexWire"]

AZURE_API_VERSION = "2024-10-21"
VERTEX_VERSIONS = ("v1", "v1beta1")


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
    return token or None


class AzureWire(OpenAIWire):
    """OpenAI's chat protocol as Azure OpenAI serves it."""

    dialect = "azure"

    def api_key(self, request: Request) -> str | None:
        return request.headers.get("api-key", "").strip() or _bearer(request)

    def missing_key_error(self) -> WireError:
        return WireError(
            401,
            "Access denied due to missing subscription key. Make sure to include subscription "
            "key when making requests to an API.",
            error="401",
        )

    def invalid_key_error(self) -> WireError:
        return WireError(
            401,
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
            "provide a valid key for an active subscription and use a correct regional API "
            "endpoint for your resource.",
            error="401",
        )

    def parse(self, body: bytes, request: Request) -> Prompt:
        if not request.query_params.get("api-version"):
            raise WireError(404, "Resource not found", error="404")
        # Azure answers for the deployment in the path, whatever the body's `model` says.
        data = json.loads(body)
        data["model"] = request.path_params["deployment"]
        return super().parse(dumps(data), request)

    def unknown_model_error(self, model: str, request: Request) -> WireError:
        return WireError(
            404,
            "The API deployment for this resource does not exist. If you created the deployment "
            "within the last 5 minutes, please wait a moment and try again.",
            error="DeploymentNotFound",
        )

    def headers(self, request_id: str, quota: Quota | None) -> dict[str, str]:
        return super().headers(request_id, quota) | {
            "apim-request-id": request_id,
            "x-ms-region": "Emulated Region",
        }


class VertexWire(GeminiWire):
    """Gemini's protocol as Vertex AI serves it (API key in express mode, or a token)."""

    dialect = "vertex"

    def api_key(self, request: Request) -> str | None:
        return super().api_key(request) or _bearer(request)

    def missing_key_error(self) -> WireError:
        return WireError(
            401,
            "Request is missing required authentication credential. Expected OAuth 2 access "
            "token, login cookie or other valid authentication credential.",
        )

    def unknown_model_error(self, model: str, request: Request) -> WireError:
        params = request.path_params
        scope = (
            f"projects/{params['project']}/locations/{params['location']}/"
            if "project" in params
            else ""
        )
        return WireError(
            404,
            f"Publisher Model `{scope}publishers/google/models/{model}` was not found or your "
            "project does not have access to it. Please ensure you are using a valid model "
            "version.",
        )
