"""The pytest fixture and marker, the command line, and the no-Airflow import guarantee."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator


def test_fixture_with_default_scenario(axiom_emulator):
    assert isinstance(axiom_emulator, AxiomEmulator)
    assert json.loads(os.environ["AIRFLOW_CONN_AXIOM_DEFAULT"]) == json.loads(axiom_emulator.connection_json())
    response = httpx.post(f"{axiom_emulator.base_url}/list-automations", json={"key": "test-key"})
    assert response.json()["data"]["names"] == ["Scrape product prices", "Export leads", "Broken checkout flow"]


@pytest.mark.axiom_scenario({"api_key": "marker-key", "automations": [{"name": "Marked"}]})
def test_fixture_with_marker_mapping(axiom_emulator):
    assert axiom_emulator.api_key == "marker-key"
    assert json.loads(os.environ["AIRFLOW_CONN_AXIOM_DEFAULT"])["password"] == "marker-key"
    assert [a.name for a in axiom_emulator.scenario.automations] == ["Marked"]


@pytest.mark.axiom_scenario("small_scenario.yaml", rate_limit_per_minute=None)
def test_fixture_with_marker_file_next_to_the_test_and_overrides(axiom_emulator):
    assert axiom_emulator.api_key == "yaml-key"
    assert axiom_emulator.scenario.rate_limit_per_minute is None
    assert axiom_emulator.scenario.speed == 0


@pytest.mark.axiom_scenario(speed=0, run_id_mode=True)
def test_fixture_with_marker_keywords_only(axiom_emulator):
    assert axiom_emulator.scenario.run_id_mode and axiom_emulator.api_key == "test-key"


def test_marker_is_registered(pytestconfig):
    assert any(line.startswith("axiom_scenario(") for line in pytestconfig.getini("markers"))


def test_cli_starts_on_a_free_port_and_stops_on_sigterm():
    cli = [sys.executable, "-m", "airflow_provider_axiom.testing.emulator", "--port", "0", "--scenario", "demo"]
    proc = subprocess.Popen(
        [*cli, "--rate-limit", "3", "--strict-rate-limit"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:(\d+)/api/v3)", first)
        assert match, first
        base_url, port = match[1], int(match[2])
        assert port > 0
        lines = [proc.stdout.readline() for _ in range(3)]
        export = next(line for line in lines if line.startswith("export AIRFLOW_CONN_AXIOM_DEFAULT="))
        conn = json.loads(export.split("=", 1)[1].strip().strip("'"))
        # the key is never echoed (users paste real keys into scenarios): a placeholder names where it is
        assert conn == {"conn_type": "axiom", "password": "<api_key of demo.yaml>", "host": base_url}
        assert not any("demo-key" in line for line in [first, *lines])
        response = httpx.post(f"{base_url}/list-automations", json={"key": "demo-key"})
        assert response.json()["data"]["names"][0] == "Scrape product prices"
        assert "rate limit: 3/min (strict: refused calls count)" in "".join(lines)
        statuses = [httpx.post(f"{base_url}/run-reports", json={"key": "demo-key"}).status_code for _ in range(4)]
        assert statuses == [200, 200, 429, 429]
        calls = httpx.get(base_url.replace("/api/v3", "/_emulator/calls")).json()
        assert calls["total"] == 5 and calls["rate_limited"] == 2  # strict: the refused calls counted too
        assert "demo-key" not in json.dumps(calls)  # the call counter never returns the key
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_reports_a_bad_scenario(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("speed: fast\n")
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_axiom.testing.emulator", "--port", "0", "--scenario", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "speed" in result.stderr


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "axiom-emulator"
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "--scenario" in result.stdout


def test_emulator_and_plugin_do_not_import_airflow():
    code = (
        "import sys, airflow_provider_axiom.testing.emulator as e, airflow_provider_axiom.testing.pytest_plugin\n"
        "e.AxiomEmulator().start().stop()\n"
        "bad = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
