"""Transient and lasting faults around the run, and ``execution_timeout``, through ``airflow dags test``.

Right after a successful ``/trigger``, ``/run-reports`` answers 503, 429, a gateway's HTML 502 page
and 503, with the connection's ``max_retries`` at 2: one hook call cannot absorb the burst, so the
operator's tolerance of transient poll failures must cover every look at the run, the first one
included. The same burst on ``/run-data`` right after the run succeeded must be covered by the
tolerance of output reads. In both modes (deferred: the trigger runs in-line; worker-side waiting)
the task returns the run's rows and the emulator holds exactly one run. A ``/run-data`` that stays
down fails the task with the retryable ``AxiomOutputUnreadableError``; an ``execution_timeout`` of
8 s ends the wait for a ten-minute run, stops it and fails the task. The DAGs are in
``tests/e2e/dags/e2e_axiom_burst_dags.py``.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.dags_cli import REPO, dags_test, xcom
from tests.e2e.dags.e2e_axiom_burst_dags import (
    BURST_CONN_ID,
    BURST_DAGS,
    BURST_ENDPOINTS,
    BURST_FAULTS,
    BURST_LABELS,
    BURST_ROWS,
    BURST_TASK_ID,
    RUNDATA_DOWN_DAGS,
    TIMEOUT_DAGS,
    TIMEOUT_RUN_SECONDS,
)

DAGS = REPO / "tests" / "e2e" / "dags"

SCENARIO: dict[str, Any] = {
    "api_key": "burst-key",
    "speed": 1,
    "rate_limit_per_minute": None,
    "plan": {"concurrency": 5},
    "automations": [
        *({"name": name, "duration": 3, "echo_input": True} for name, _ in BURST_DAGS.values()),
        *({"name": name, "duration": 3, "echo_input": True} for name, _ in RUNDATA_DOWN_DAGS.values()),
        *({"name": name, "duration": TIMEOUT_RUN_SECONDS} for name, _ in TIMEOUT_DAGS.values()),
    ],
}


def burst_connection(emulator: AxiomEmulator) -> str:
    """The emulator's connection with ``max_retries`` = 2."""
    return json.dumps({**json.loads(emulator.connection_json()), "extra": {"max_retries": 2}})


def run_dag(emulator: AxiomEmulator, dag_id: str) -> Any:
    env = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        f"AIRFLOW_CONN_{BURST_CONN_ID.upper()}": burst_connection(emulator),
    }
    return dags_test(dag_id, env)


@pytest.mark.airflow_db
@pytest.mark.parametrize("endpoint", BURST_ENDPOINTS)
@pytest.mark.parametrize("dag_id", sorted(BURST_DAGS))
def test_a_burst_on_the_first_looks_at_the_run_is_tolerated(migrated_db, dag_id, endpoint):
    name, deferrable = BURST_DAGS[dag_id]
    with AxiomEmulator(SCENARIO) as emulator:
        emulator.set_faults(endpoint, sequence=BURST_FAULTS)
        result = run_dag(emulator, dag_id)
        output = result.stdout + result.stderr
        runs = emulator.started_runs(name)
        hit = emulator.requests(endpoint)
        triggers = emulator.requests("trigger")

    # The burst reached the task: one hook call's three attempts met 503, 429 and the HTML page.
    assert [r["fault"] for r in hit[:3]] == BURST_LABELS[:3], hit[:4]
    if endpoint == "run-data":  # ... right after the run succeeded: the output read met it
        assert hit[0]["time"] >= runs[0]["finished_at"][:19], (hit[0], runs)
    assert result.returncode == 0, f"the task failed on the burst (deferrable={deferrable}):\n{output[-5000:]}"
    assert len(runs) == 1, runs
    assert len(triggers) == 1, triggers
    assert runs[0]["status"] == "Success"
    summary = xcom(dag_id, BURST_TASK_ID)
    assert summary["status"] == "Success"
    assert summary["data"]["google-sheet-data"] == BURST_ROWS
    assert summary["data_unavailable"] is None
    assert summary["viewer_url"] == runs[0]["viewer_url"]
    if deferrable:
        assert "[DAG TEST] running trigger in line" in output  # it really deferred


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
