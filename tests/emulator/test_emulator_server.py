"""The loopback server: free ports, base URLs, sync and async lifecycles, the blocking serve()."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anthropic
import httpx2
import openai
import pytest
from google import genai
from google.genai import types as genai_types

import automatosx.emulator as emulator
from automatosx.emulator import EmulatorServer, Rule, Scenario, create_app

from .conftest import user


def test_port_zero_picks_a_free_port_and_reports_it() -> None:
    with EmulatorServer() as first, EmulatorServer() as second:
        assert first.port > 0
        assert second.port != first.port
        assert first.base_url == f"http://127.0.0.1:{first.port}"
        assert first.anthropic_base_url == first.base_url
        assert first.openai_base_url == first.base_url + "/v1"
        assert first.gemini_base_url == first.base_url
        assert first.gemini_v1beta_url == first.base_url + "/v1beta"
        assert first.azure_endpoint == first.base_url
        assert first.vertex_base_url == first.base_url
        response = httpx2.get(
            first.openai_base_url + "/models", headers={"authorization": "Bearer k"}
        )
        assert response.status_code == 200


def test_sync_sdk_clients_work_against_the_sync_context_manager() -> None:
    scenario = Scenario([Rule(provider="claude", request=1, status=529)])
    with EmulatorServer(scenario) as srv:
        claude = anthropic.Anthropic(api_key="k", base_url=srv.anthropic_base_url, max_retries=0)
        with pytest.raises(anthropic.OverloadedError):
            claude.messages.create(model="claude-opus-4-7", max_tokens=9, messages=user("x"))
        message = claude.messages.create(model="claude-opus-4-7", max_tokens=9, messages=user("x"))
        assert message.usage.output_tokens == 9
        gpt = openai.OpenAI(api_key="k", base_url=srv.openai_base_url, max_retries=0)
        assert gpt.chat.completions.create(model="gpt-4o", messages=user("x")).choices
        gemini = genai.Client(
            api_key="k", http_options=genai_types.HttpOptions(base_url=srv.gemini_base_url)
        )
        assert gemini.models.generate_content(model="gemini-2.5-flash", contents="x").text
        claude.close()
        gpt.close()
        gemini.close()
    assert srv.scenario.count("claude") == 2


async def test_async_context_manager_serves_an_app_and_stops() -> None:
    app = create_app()
    async with EmulatorServer(app, port=0) as srv, httpx2.AsyncClient() as client:
        assert srv.app is app
        port = srv.port
        response = await client.get(srv.base_url + "/v1/models", headers={"x-api-key": "k"})
        assert response.json()["data"][0]["type"] == "model"
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(f"http://127.0.0.1:{port}/v1/models")
    with pytest.raises(RuntimeError, match="not started"):
        _ = srv.port


def test_starting_twice_is_an_error_and_port_needs_a_start() -> None:
    server = EmulatorServer()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.port
    with server, pytest.raises(RuntimeError, match="already started"):
        server.start()


def test_serve_prints_the_base_urls_and_serves(tmp_path: Path) -> None:
    scenario = tmp_path / "faults.json"
    scenario.write_text('{"rules": [{"provider": "openai", "status": 503}]}')
    code = (
        "from automatosx.emulator import serve; "
        f"serve('127.0.0.1', 0, scenario_path={str(scenario)!r})"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(8)]
        base = lines[0].split()[-1]
        assert base.startswith("http://127.0.0.1:")
        urls = {" ".join(line.split()[:2]): line.split()[2] for line in lines[1:7]}
        assert urls == {
            "anthropic base_url:": base,
            "openai base_url:": base + "/v1",
            "gemini base_url:": base,
            "gemini v1beta:": base + "/v1beta",
            "azure endpoint:": base,
            "vertex base_url:": base,
        }
        assert lines[7].split() == ["scenario:", str(scenario)]
        response = httpx2.post(
            base + "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": user("x")},
            headers={"authorization": "Bearer k"},
            timeout=10,
        )
        assert response.status_code == 503
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_public_names_are_sorted_and_complete() -> None:
    assert emulator.__all__ == sorted(emulator.__all__)
    public = {name for name in vars(emulator) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(emulator, name)).__name__ == "module"}
    assert public - modules - {"annotations"} == set(emulator.__all__)
