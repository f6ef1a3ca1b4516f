"""Operating the provider: what the logs and the emulator's output say, and what they never say."""

from __future__ import annotations

import json
import os

import pytest

from airflow_provider_axiom.hooks.axiom import AxiomHook
from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.dags_cli import airflow
from tests.task_kit import record_masks


def test_the_hook_registers_no_secret_beyond_what_airflow_does(monkeypatch):
    """Extras are timeouts and counts, not secrets: the hook reads them without ``extra_dejson``.

    Airflow itself registers every extra value of a connection it fetches (``Connection.get``);
    the text of a number given as a string ("30") is then too short to mask and Airflow warns
    once per process. The hook adds no registration of its own (it used to, sync and async).
    """
    from airflow_provider_axiom._compat import BaseHook

    registered = record_masks(monkeypatch)
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


def test_an_extra_that_is_not_json_is_a_config_error():
    from types import SimpleNamespace

    from airflow_provider_axiom._connection import connection_extras
    from airflow_provider_axiom.exceptions import AxiomConfigError

    assert connection_extras(SimpleNamespace(conn_id="c", extra='{"timeout": 30}')) == {"timeout": 30}
    assert connection_extras(SimpleNamespace(conn_id="c", extra=None)) == {}
    with pytest.raises(AxiomConfigError, match="not JSON"):
        connection_extras(SimpleNamespace(conn_id="c", extra="{not json"))


QUIET_DAG = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator

with DAG("axiom_quiet_link", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), schedule=None, catchup=False):
    started = AxiomTriggerAutomationOperator(task_id="started", automation_name="Long job", wait_for_completion=False)
    queued = AxiomTriggerAutomationOperator(task_id="queued", automation_name="Long job", wait_for_completion=False)
    missing = AxiomTriggerAutomationOperator(task_id="missing", automation_name="No such job", retries=0)
    started >> queued >> missing
"""


@pytest.mark.airflow_db
def test_a_queued_or_failed_trigger_logs_no_missing_xcom_error(migrated_db, tmp_path):
    (tmp_path / "quiet_link.py").write_text(QUIET_DAG)
    scenario = {"speed": 1, "plan": {"concurrency": 1}, "automations": [{"name": "Long job", "duration": 3600}]}
    with AxiomEmulator(scenario, port=0) as emulator:
        env = {
            **os.environ,
            "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path),
            "AIRFLOW_CONN_AXIOM_DEFAULT": emulator.connection_json(),
        }
        result = airflow("dags", "test", "axiom_quiet_link", env=env)
        queued = [r["status"] for r in emulator.runs("Long job")]
        missing = [r["status"] for r in emulator.requests("trigger") if r["body"]["name"] == "No such job"]
    output = result.stdout + result.stderr
    assert queued == ["Running", "Queued"], output[-4000:]  # the slot was busy: the second run was queued
    assert missing == [404]  # the failed trigger
    assert "XCom not found" not in output
