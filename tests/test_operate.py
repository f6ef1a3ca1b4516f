"""Operating the provider: what the logs and the emulator's output say, and what they never say."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest

from airflow_provider_axiom.hooks.axiom import AxiomHook
from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.test_example_dags import airflow, migrated_db  # noqa: F401 (a fixture)
from tests.test_lifecycle import SCENARIO, EmulatedTime, FakeTaskStateStore, FakeTI, operator, runs


def test_the_hook_registers_no_secret_beyond_what_airflow_does(monkeypatch):
    """Extras are timeouts and counts, not secrets: the hook reads them without ``extra_dejson``.

    Airflow itself registers every extra value of a connection it fetches (``Connection.get``);
    the text of a number given as a string ("30") is then too short to mask and Airflow warns
    once per process. The hook adds no registration of its own (it used to, sync and async).
    """
    from airflow.sdk import BaseHook
    from airflow.sdk._shared.secrets_masker import secrets_masker

    registered: list[Any] = []
    original = secrets_masker.SecretsMasker.add_mask

    def add_mask(self: Any, secret: Any, name: str | None = None) -> None:
        if isinstance(secret, str):
            registered.append(secret)
        original(self, secret, name)

    monkeypatch.setattr(secrets_masker.SecretsMasker, "add_mask", add_mask)
    extra = {"timeout": "30", "max_retries": "3", "rate_limit_per_minute": "25"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_AXIOM_MASKING",
        json.dumps({"conn_type": "axiom", "password": "sk-masking-0123456789", "extra": extra}),
    )
    BaseHook.get_connection("axiom_masking")
    by_airflow = sorted(registered)
    registered.clear()
    settings = AxiomHook("axiom_masking").settings
    assert (settings.timeout, settings.max_retries, settings.rate_limit_per_minute) == (30.0, 3, 25)
    assert sorted(registered) == by_airflow


def test_an_extra_that_is_not_json_is_a_config_error(monkeypatch):
    from airflow_provider_axiom.exceptions import AxiomConfigError

    monkeypatch.setenv("AIRFLOW_CONN_AXIOM_BADEXTRA", json.dumps({"conn_type": "axiom", "password": "k" * 12}))
    hook = AxiomHook("axiom_badextra")
    conn = hook.get_connection("axiom_badextra")
    conn.extra = "{not json"
    monkeypatch.setattr(hook, "get_connection", lambda conn_id: conn)
    with pytest.raises(AxiomConfigError, match="not JSON"):
        hook.settings  # noqa: B018


def test_emulator_cli_strict_rate_limit_flag_and_no_key_in_its_output():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_axiom.testing.emulator",
            "--port",
            "0",
            "--scenario",
            "demo",
            "--rate-limit",
            "2",
            "--strict-rate-limit",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(4)]
        base_url = re.search(r"(http://127\.0\.0\.1:\d+/api/v3)", banner[0])[1]  # type: ignore[index]
        assert "rate limit: 2/min (strict: refused calls count)" in "".join(banner)
        statuses = [httpx.post(f"{base_url}/list-automations", json={"key": "demo-key"}).status_code for _ in range(4)]
        assert statuses == [200, 200, 429, 429]
        calls = httpx.get(base_url.replace("/api/v3", "/_emulator/calls")).json()
        # strict: the refused calls were counted too; and the counter never returns the key
        assert calls["total"] == 4 and calls["rate_limited"] == 2
        assert "demo-key" not in json.dumps(calls) and "demo-key" not in "".join(banner)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.axiom_scenario(SCENARIO)
def test_a_retry_whose_run_already_succeeded_says_so_once(axiom_emulator, caplog, capsys):
    time = EmulatedTime(axiom_emulator)
    store = FakeTaskStateStore()

    def crash_once_it_succeeded(seconds: float) -> None:
        if runs(axiom_emulator, "Export leads")[0]["status"] == "Success":
            raise SystemExit("worker lost while reading the output")

    time.as_clock()
    time.after_sleep = crash_once_it_succeeded
    with pytest.raises(SystemExit):
        operator(time, automation_name="Export leads", deferrable=False).execute(
            {"ti": FakeTI(), "task_state_store": store}
        )
    time.after_sleep = None
    caplog.set_level(logging.INFO)
    caplog.clear()
    capsys.readouterr()
    operator(time, automation_name="Export leads", deferrable=False).execute(
        {"ti": FakeTI(), "task_state_store": store}
    )
    text = caplog.text + capsys.readouterr().out
    assert text.count("already succeeded; returning its result") == 1
    assert "re-attached" not in text  # nothing was re-attached to


QUIET_DAG = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator

with DAG("axiom_quiet_link", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), schedule=None, catchup=False):
    started = AxiomTriggerAutomationOperator(task_id="started", automation_name="Long job", wait_for_completion=False)
    queued = AxiomTriggerAutomationOperator(task_id="queued", automation_name="Long job", deferrable=True, timeout=60)
    missing = AxiomTriggerAutomationOperator(task_id="missing", automation_name="No such job", retries=0)
    started >> queued >> missing
"""


@pytest.mark.airflow_db
def test_a_queued_or_failed_trigger_logs_no_missing_xcom_error(migrated_db, tmp_path):  # noqa: F811
    (tmp_path / "quiet_link.py").write_text(QUIET_DAG)
    scenario = {"speed": 60, "plan": {"concurrency": 1}, "automations": [{"name": "Long job", "duration": 120}]}
    with AxiomEmulator(scenario, port=0) as emulator:
        env = {
            **os.environ,
            "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path),
            "AIRFLOW_CONN_AXIOM_DEFAULT": emulator.connection_json(),
        }
        result = airflow("dags", "test", "axiom_quiet_link", env=env)
        states = [r["was_queued"] for r in emulator.runs("Long job")]
    output = result.stdout + result.stderr
    assert "queued the run of 'Long job'" in output and "Task not found" in output, output[-4000:]
    assert states == [False, True]  # the second run was queued, then waited through (deferred)
    assert "XCom not found" not in output
