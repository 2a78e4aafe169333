"""Scenario files and addresses the emulator cannot use raise one typed, one-line error naming
the file and the key (issue 22, items 2 and 4): `ScenarioError` (a ValueError) and
`EmulatorBindError` (an OSError), which `automatosx emulate` turns into a message and exit 2."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from automatosx.emulator import (
    EmulatorBindError,
    EmulatorServer,
    Scenario,
    ScenarioError,
    serve,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text
    assert "Traceback" not in text
    return text


def test_a_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ScenarioError) as raised:
        Scenario.from_file(path)
    assert one_line(raised.value).startswith(f"{path}: cannot read the scenario file")
    assert raised.value.path == str(path)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.json", '{"rules": [', "not valid JSON"),
        ("bad.toml", "[[rules]\nprovider = ", "not valid TOML"),
        ("list.json", "[1, 2]", "a scenario must be an object"),
        ("binary.json", "\udcff", "cannot read the scenario file"),
    ],
)
def test_malformed_files_name_the_file(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ScenarioError) as raised:
        Scenario.from_file(path)
    message = one_line(raised.value)
    assert message.startswith(f"{path}: ")
    assert expected in message


@pytest.mark.parametrize(
    ("data", "key", "expected"),
    [
        ({"rulez": []}, "rulez", "unknown scenario key"),
        ({"rules": [{"staus": 500}]}, "rules[0].staus", "unknown rule key"),
        ({"rules": [{}, {"status": "abc"}]}, "rules[1].status", "expected an integer, got 'abc'"),
        ({"rules": [{"status": 99999}]}, "rules[0].status", "HTTP status"),
        ({"rules": [{"latency": "slow"}]}, "rules[0].latency", "expected a number"),
        ({"rules": [{"cut_after": -1}]}, "rules[0].cut_after", "must be >= 0"),
        ({"rules": [{"silence": "yes"}]}, "rules[0].silence", "expected a boolean"),
        ({"rules": [{"refusal": "nope"}]}, "rules[0].refusal", "must be one of"),
        ({"rules": [{"malformed_event": "x"}]}, "rules[0].malformed_event", "must be one of"),
        ({"rules": [{"provider": "bing"}]}, "rules[0].provider", "unknown provider"),
        ({"rules": [{"requests": [1]}]}, "rules[0].requests", "[first, last]"),
        ({"rules": [{"every": 0}]}, "rules[0].every", "must be >= 1"),
        ({"rules": [{"headers": {"x": 1}}]}, "rules[0].headers", "object of strings"),
        ({"rules": {"status": 500}}, "rules", "array of rule objects"),
        ({"rules": [5]}, "rules[0]", "a rule must be an object"),
        ({"models": "gpt-4o"}, "models", "array of strings"),
        ({"random": {"fault_rate": 2}}, "random.fault_rate", "within [0, 1]"),
        ({"random": {"rate": 0.5}}, "random", "unexpected keyword"),
        ({"random": {"kinds": ["418"]}}, "random.kinds", "unknown kinds"),
    ],
)
def test_bad_keys_and_values_name_the_file_and_key(
    tmp_path: Path, data: dict[str, Any], key: str, expected: str
) -> None:
    path = write(tmp_path, "faults.json", json.dumps(data))
    with pytest.raises(ScenarioError) as raised:
        Scenario.from_file(path)
    message = one_line(raised.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert expected in message
    assert raised.value.key == key


def test_a_good_toml_file_still_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ok.toml",
        'models = ["gpt-4o"]\n[[rules]]\nprovider = "openai"\nrequests = [2, 3]\nstatus = 503\n',
    )
    scenario = Scenario.from_file(path)
    assert scenario.fault_for("openai", 2).status == 503
    assert scenario.fault_for("openai", 4).status is None


def test_serve_raises_the_scenario_error_before_printing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "bad.json", '{"rules": [{"status": "x"}]}')
    with pytest.raises(ScenarioError, match=r"rules\[0\]\.status"):
        serve(port=0, scenario_path=path)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("port", [99999, -1, 65536])
def test_a_port_out_of_range_is_a_bind_error(port: int) -> None:
    with pytest.raises(EmulatorBindError) as raised:
        serve(port=port)
    assert one_line(raised.value) == (
        f"cannot listen on 127.0.0.1:{port}: port must be an integer from 0 to 65535"
    )
    with pytest.raises(EmulatorBindError):
        EmulatorServer(port=port).start()


def test_a_port_in_use_is_a_bind_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(EmulatorBindError) as raised:
            serve(port=port)
        assert one_line(raised.value).startswith(f"cannot listen on 127.0.0.1:{port}: ")
        assert isinstance(raised.value, OSError)
        server = EmulatorServer(port=port)
        with pytest.raises(EmulatorBindError):
            server.start()


def test_a_host_that_is_not_local_is_a_bind_error() -> None:
    with pytest.raises(EmulatorBindError, match=r"cannot listen on 192\.0\.2\.1:0"):
        serve(host="192.0.2.1", port=0)
