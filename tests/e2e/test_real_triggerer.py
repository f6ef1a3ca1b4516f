"""End to end: the deferrable operator in a real Airflow, with a real triggerer, against the emulator.

The Airflow (scheduler, dag-processor, triggerer, api-server; LocalExecutor, sqlite) is started
once for the module by ``conftest.py`` and driven only through its REST API. The DAGs are in
``dags/e2e_axiom_dags.py``. Each scenario asserts on what the emulator recorded.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from airflow_provider_axiom._compat import TRIGGER_ON_KILL
from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.e2e.airflow_kit import FINISHED, AirflowUnderTest, wait_for, wait_until_finished
from tests.e2e.dags.e2e_axiom_dags import INPUT_ROWS, TASK_ID

pytestmark = pytest.mark.e2e


def polls_since(emulator: AxiomEmulator, since: float) -> int:
    """Run-report polls the emulator received after ``since`` (epoch seconds)."""
    return sum(1 for r in emulator.requests("run-reports") if r["real_time"] > since)


def wait_until_deferred(af: AirflowUnderTest, dag_id: str, run_id: str) -> dict[str, Any]:
    def deferred() -> dict[str, Any] | None:
        ti = af.task_instance(dag_id, run_id, TASK_ID)
        if ti["state"] in FINISHED:
            raise AssertionError(f"the task ended before deferring: {ti}\n{af.diagnostics()}")
        return ti if ti["state"] == "deferred" and ti["triggerer_job"] else None

    return wait_for(f"{dag_id} to be deferred to a triggerer", deferred, timeout=90, on_timeout=af.diagnostics)


def wait_until_polled_by_trigger(af: AirflowUnderTest, emulator: AxiomEmulator, since: float) -> None:
    """The trigger is running in the triggerer: the emulator is polled after ``since``.

    Only one task is active at a time in this module, and the operator's own poll happens before
    it defers, so a poll after the task was seen deferred comes from the trigger.
    """
    wait_for(
        "the trigger to poll the emulator",
        lambda: polls_since(emulator, since),
        timeout=60,
        on_timeout=af.diagnostics,
    )


def test_deferred_run_succeeds_through_the_real_triggerer(airflow_e2e: AirflowUnderTest, emulator: AxiomEmulator):
    dag_id, name = "e2e_axiom_deferred_success", "E2E quick scrape"
    # The Airflow is shared (conftest's airflow_e2e): other modules run this DAG too, never at the same time.
    runs_before = len(emulator.started_runs(name))
    triggers_before = len([r for r in emulator.requests("trigger") if r["body"].get("name") == name])
    run_id = airflow_e2e.trigger_dag(dag_id)

    states: list[str | None] = []
    triggerer_jobs: set[int] = set()

    def finished() -> dict[str, Any] | None:
        ti = airflow_e2e.task_instance(dag_id, run_id, TASK_ID)
        if not states or states[-1] != ti["state"]:
            states.append(ti["state"])
        if ti["state"] == "deferred" and ti["triggerer_job"]:
            triggerer_jobs.add(ti["triggerer_job"]["id"])
        run = airflow_e2e.dag_run(dag_id, run_id)
        return run if run["state"] in FINISHED else None

    run = wait_for(f"{dag_id} to finish", finished, timeout=120, interval=0.2, on_timeout=airflow_e2e.diagnostics)
    assert run["state"] == "success", f"task states {states}\n{airflow_e2e.diagnostics()}"
    assert "deferred" in states, f"the task was never seen deferred: {states}"
    assert states[-1] == "success"
    assert len(triggerer_jobs) == 1, triggerer_jobs

    result = airflow_e2e.xcom(dag_id, run_id, TASK_ID)
    assert result["status"] == "Success"
    assert result["automation_name"] == name
    assert result["data"] == {"google-sheet-data": INPUT_ROWS, "price-log": [["checked_at"], ["today"]]}

    (remote,) = emulator.started_runs(name)[runs_before:]
    assert remote["status"] == "Success"
    assert remote["stopped"] is False
    assert remote["input_data"] == INPUT_ROWS
    assert result["viewer_url"] == remote["viewer_url"]
    assert len([r for r in emulator.requests("trigger") if r["body"].get("name") == name]) == triggers_before + 1

    # The trigger ran in the triggerer job the task was deferred to: its log file is named after it.
    (trigger_log,) = airflow_e2e.trigger_logs(dag_id, run_id, TASK_ID)
    assert trigger_log.name.endswith(f".trigger.{triggerer_jobs.pop()}.log"), trigger_log.name
    assert "Trigger fired event" in trigger_log.read_text() or "trigger completed" in trigger_log.read_text()

    # The viewer link is a credential: its password is in no task or trigger log, nor in a metric name
    # (masked by Airflow where Airflow itself logs the event, never written by the provider), and no
    # too-short value was handed to the masker.
    logs = [*airflow_e2e.task_logs(dag_id, run_id, TASK_ID), trigger_log]
    texts = "\n".join(p.read_text() for p in logs)
    assert remote["pw"] not in texts and remote["viewer_url"] not in texts
    assert "too short" not in texts


@pytest.mark.skipif(
    not TRIGGER_ON_KILL,
    reason="needs Airflow >= 3.3: older triggerers cancel a trigger the same way for a kill and a restart, "
    "so the provider never stops a run from the triggerer there",
)
def test_marking_the_deferred_task_failed_stops_the_remote_run(airflow_e2e: AirflowUnderTest, emulator: AxiomEmulator):
    dag_id, name = "e2e_axiom_mark_failed", "E2E long export"
    run_id = airflow_e2e.trigger_dag(dag_id)
    wait_until_deferred(airflow_e2e, dag_id, run_id)
    seen_deferred = time.time()
    wait_until_polled_by_trigger(airflow_e2e, emulator, seen_deferred)
    (remote,) = emulator.started_runs(name)
    assert remote["status"] == "Running" and remote["stopped"] is False
    stops_before = len(emulator.requests("stop"))

    patched = airflow_e2e.set_task_state(dag_id, run_id, TASK_ID, "failed")
    assert [ti["state"] for ti in patched["task_instances"]] == ["failed"], patched

    def stopped() -> dict[str, Any] | None:
        (run,) = emulator.started_runs(name)
        return run if run["stopped"] else None

    # Within the trigger's wait for the task's state (TASK_STATE_TIMEOUT), then the /stop call.
    remote = wait_for("the remote run to be stopped", stopped, timeout=60, on_timeout=airflow_e2e.diagnostics)
    stops = emulator.requests("stop")[stops_before:]
    assert len(stops) == 1, stops
    assert stops[0]["status"] == 200
    assert remote["status"] != "Running"

    assert airflow_e2e.task_instance(dag_id, run_id, TASK_ID)["state"] == "failed"
    assert wait_until_finished(airflow_e2e, dag_id, run_id)["state"] == "failed"
    trigger_text = "".join(p.read_text() for p in airflow_e2e.trigger_logs(dag_id, run_id, TASK_ID))
    assert f"asked the run of {name!r} to stop" in trigger_text, trigger_text[-3000:]


def test_a_triggerer_restart_does_not_stop_the_run(airflow_e2e: AirflowUnderTest, emulator: AxiomEmulator):
    dag_id, name = "e2e_axiom_triggerer_restart", "E2E long sync"
    run_id = airflow_e2e.trigger_dag(dag_id)
    first_job = wait_until_deferred(airflow_e2e, dag_id, run_id)["triggerer_job"]["id"]
    wait_until_polled_by_trigger(airflow_e2e, emulator, time.time())
    stops_before = len(emulator.requests("stop"))

    exit_code = airflow_e2e.stop("triggerer")
    assert exit_code == 0, f"the triggerer did not stop cleanly on SIGTERM\n{airflow_e2e.tail('triggerer')}"
    (remote,) = emulator.started_runs(name)
    assert remote["stopped"] is False and remote["status"] == "Running"
    assert len(emulator.requests("stop")) == stops_before

    restarted = time.time()
    airflow_e2e.start("triggerer")
    # A new triggerer job adopts the trigger and polls the same run again.
    wait_until_polled_by_trigger(airflow_e2e, emulator, restarted)
    ti = airflow_e2e.task_instance(dag_id, run_id, TASK_ID)
    assert ti["state"] == "deferred", ti
    assert ti["triggerer_job"] and ti["triggerer_job"]["id"] != first_job, (first_job, ti["triggerer_job"])
    wait_for("a few polls by the new triggerer", lambda: polls_since(emulator, restarted) >= 3, timeout=60)
    (remote,) = emulator.started_runs(name)
    assert remote["stopped"] is False and remote["status"] == "Running"
    assert len(emulator.requests("stop")) == stops_before
    assert airflow_e2e.task_instance(dag_id, run_id, TASK_ID)["state"] == "deferred"

    # Let the emulated hour pass: the adopted trigger sees the same run succeed.
    emulator.advance(3600)
    run = wait_until_finished(airflow_e2e, dag_id, run_id)
    assert run["state"] == "success", airflow_e2e.diagnostics()
    result = airflow_e2e.xcom(dag_id, run_id, TASK_ID)
    assert result["status"] == "Success"
    assert result["data"] == {"sync-log": [["synced"], ["42"]]}
    (remote,) = emulator.started_runs(name)
    assert remote["status"] == "Success" and remote["stopped"] is False
    assert result["viewer_url"] == remote["viewer_url"]
    assert len(emulator.requests("stop")) == stops_before
    assert len([r for r in emulator.requests("trigger") if r["body"].get("name") == name]) == 1

    # Two triggerer jobs ran the trigger, one after the other, each with its own log file.
    jobs = {
        m.group(1)
        for p in airflow_e2e.trigger_logs(dag_id, run_id, TASK_ID)
        if (m := re.search(r"\.trigger\.(\d+)\.log$", p.name))
    }
    assert len(jobs) == 2 and str(first_job) in jobs, jobs
