"""Lasting faults around the run, and ``execution_timeout``, through ``airflow dags test``.

A ``/run-data`` that stays down fails the task with the retryable ``AxiomOutputUnreadableError``; an
``execution_timeout`` of 8 s ends the wait for a ten-minute run, stops it and fails the task. Both in
deferred mode (the trigger runs in-line) and worker-side waiting. The transient bursts are in
``tests/test_transient_bursts.py``; the DAGs are in ``tests/e2e/dags/e2e_axiom_burst_dags.py``.
"""

from __future__ import annotations

import time

import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.burst_kit import SCENARIO, run_dag
from tests.dags_cli import xcom
from tests.e2e.dags.e2e_axiom_burst_dags import BURST_TASK_ID, RUNDATA_DOWN_DAGS, TIMEOUT_DAGS


@pytest.mark.airflow_db
@pytest.mark.parametrize("dag_id", sorted(RUNDATA_DOWN_DAGS))
def test_an_output_that_stays_unreadable_fails_the_task_retryably(migrated_db, dag_id):
    name, deferrable = RUNDATA_DOWN_DAGS[dag_id]
    with AxiomEmulator(SCENARIO) as emulator:
        emulator.set_faults("run-data", probability=1.0, fault={"status": 503})
        result = run_dag(emulator, dag_id)
        output = result.stdout + result.stderr
        runs = emulator.started_runs(name)
        reads = emulator.requests("run-data")

    assert result.returncode != 0, f"the task succeeded without its rows (deferrable={deferrable}):\n{output[-5000:]}"
    assert runs and all(run["status"] == "Success" for run in runs), runs
    assert reads and all(r["fault"] == "status:503" for r in reads), reads
    assert "AxiomOutputUnreadableError" in output, output[-5000:]
    flat = " ".join(output.split())  # Airflow 3.0 wraps long log lines
    assert "succeeded but its output could not be read" in flat and name in flat, output[-5000:]
    assert xcom(dag_id, BURST_TASK_ID) is None  # no result without rows


@pytest.mark.airflow_db
@pytest.mark.parametrize("dag_id", sorted(TIMEOUT_DAGS))
def test_execution_timeout_ends_the_wait_and_stops_the_run(migrated_db, dag_id):
    name, deferrable = TIMEOUT_DAGS[dag_id]
    with AxiomEmulator(SCENARIO) as emulator:
        began = time.monotonic()
        result = run_dag(emulator, dag_id)
        took = time.monotonic() - began
        output = result.stdout + result.stderr
        runs = emulator.started_runs(name)
        stops = emulator.requests("stop")
        (trigger,) = emulator.requests("trigger")

    waited = stops[0]["real_time"] - trigger["real_time"] if stops else float("nan")
    print(f"\n{dag_id}: /stop {waited:.1f}s after /trigger; `airflow dags test` took {took:.0f}s in all")
    assert result.returncode != 0, f"deferrable={deferrable}\n{output[-5000:]}"
    if deferrable:
        assert "[DAG TEST] running trigger in line" in output  # it really deferred
    (run,) = runs
    assert stops and all(s["status"] == 200 for s in stops), stops
    assert run["stopped"] is True and run["status"] == "Failure", run
    assert "AxiomRunTimeoutError" in output or "Timeout" in output, output[-5000:]
