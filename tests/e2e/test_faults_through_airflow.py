"""Transient faults through a real scheduler and triggerer, in both modes.

One Airflow (scheduler, dag-processor, triggerer, api-server; LocalExecutor, sqlite) for the module,
against an emulator that answers as the documented API does (no run id) and shows every new run in
``/run-reports`` only 0.3-3 s after its trigger (seeded). The DAGs are ``dags/e2e_axiom_burst_dags.py``
(connection ``axiom_burst`` with ``max_retries`` = 2):

- ``/run-reports`` answers 503, 429, a gateway's HTML 502 page and 503 right after a successful
  trigger (or ``/run-data`` right after the run succeeded): the task returns the rows, one run exists;
- on Airflow 3.3+, a first try whose output reads all fail is retried, and the retry returns the rows
  with no second ``/trigger``;
- an ``execution_timeout`` of 8 s ends the wait for a ten-minute run and stops it.

(The soak, ``test_soak.py``, runs against an API whose run ids ``/run-data`` does not read; these
tests count every ``/run-data`` request, so a run-id proof there would meet their faults first.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from airflow_provider_axiom._compat import TASK_STATE_STORE
from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.burst_kit import burst_automations
from tests.e2e.airflow_kit import AirflowUnderTest, wait_until_finished
from tests.e2e.dags.e2e_axiom_burst_dags import (
    BURST_CONN_ID,
    BURST_DAGS,
    BURST_ENDPOINTS,
    BURST_FAULTS,
    BURST_LABELS,
    BURST_ROWS,
    BURST_TASK_ID,
    RUNDATA_DOWN_DAGS,
    RUNDATA_DOWN_MAX_ERRORS,
    TIMEOUT_DAGS,
    TIMEOUT_RUN_SECONDS,
)
from tests.scenarios import scenario

pytestmark = [pytest.mark.e2e, pytest.mark.soak]

SCENARIO = scenario(
    "faults-through-airflow-key",
    burst_automations(),
    concurrency=99,
    seed=2026,
    registration_delay=[0.3, 3],
)


@pytest.fixture(scope="module")
def soak_airflow(start_airflow: Callable[..., AirflowUnderTest]) -> AirflowUnderTest:
    return start_airflow(
        SCENARIO,
        dag_files=["e2e_axiom_burst_dags.py"],
        dag_ids=[*BURST_DAGS, *RUNDATA_DOWN_DAGS, *TIMEOUT_DAGS],
        connections={BURST_CONN_ID: {"max_retries": 2}},
        parallelism=4,
    )


@pytest.fixture(scope="module")
def emulator(soak_airflow: AirflowUnderTest) -> AxiomEmulator:
    return soak_airflow.emulator


# --------------------------------------------------------------------------- the burst (defect 1)


@pytest.mark.parametrize("endpoint", BURST_ENDPOINTS)
@pytest.mark.parametrize("dag_id", sorted(BURST_DAGS))
def test_a_burst_on_the_first_looks_at_the_run_is_tolerated(
    soak_airflow: AirflowUnderTest, emulator: AxiomEmulator, dag_id: str, endpoint: str
) -> None:
    name, deferrable = BURST_DAGS[dag_id]
    hit_before = len(emulator.requests(endpoint))
    runs_before = len(emulator.started_runs(name))
    triggers_before = len(triggers_of(emulator, name))
    emulator.set_faults(endpoint, sequence=BURST_FAULTS)
    run_id = soak_airflow.trigger_dag(dag_id)
    run = wait_until_finished(soak_airflow, dag_id, run_id, timeout=120, interval=1.0)
    hit = emulator.requests(endpoint)[hit_before:]
    emulator.clear_faults()

    # The burst reached the task: one hook call's three attempts met 503, 429 and the HTML page.
    assert [r["fault"] for r in hit[:3]] == BURST_LABELS[:3], hit[:4]
    ti = soak_airflow.task_instance(dag_id, run_id, BURST_TASK_ID)
    logs = "".join(p.read_text(errors="replace")[-3000:] for p in soak_airflow.task_logs(dag_id, run_id, BURST_TASK_ID))
    assert run["state"] == "success", f"the task failed on the burst (deferrable={deferrable}): {ti}\n{logs}"
    (remote,) = emulator.started_runs(name)[runs_before:]
    assert remote["status"] == "Success"
    if endpoint == "run-data":  # ... right after the run succeeded: the output read met it
        assert hit[0]["time"] >= remote["finished_at"][:19], (hit[0], remote)
    assert len(triggers_of(emulator, name)) == triggers_before + 1
    summary = soak_airflow.xcom(dag_id, run_id, BURST_TASK_ID)
    assert summary["status"] == "Success"
    assert summary["data"]["google-sheet-data"] == BURST_ROWS
    assert summary["viewer_url"] == remote["viewer_url"]


@pytest.mark.skipif(
    not TASK_STATE_STORE,
    reason="needs Airflow >= 3.3 (the task state store): on older Airflow a retry starts a new run",
)
@pytest.mark.parametrize("dag_id", sorted(RUNDATA_DOWN_DAGS))
def test_a_retry_reads_the_rows_the_first_try_could_not(
    soak_airflow: AirflowUnderTest, emulator: AxiomEmulator, dag_id: str
) -> None:
    name, deferrable = RUNDATA_DOWN_DAGS[dag_id]
    # Every output read of the first try fails (each read is one hook call of three attempts); the
    # retry's read is answered.
    failing = [{"status": 503}] * (RUNDATA_DOWN_MAX_ERRORS * 3)
    reads_before = len(emulator.requests("run-data"))
    emulator.set_faults("run-data", sequence=failing)
    run_id = soak_airflow.trigger_dag(dag_id)
    run = wait_until_finished(soak_airflow, dag_id, run_id, timeout=180, interval=1.0)
    reads = emulator.requests("run-data")[reads_before:]
    emulator.clear_faults()

    ti = soak_airflow.task_instance(dag_id, run_id, BURST_TASK_ID)
    logs = {p.name: p.read_text(errors="replace") for p in soak_airflow.task_logs(dag_id, run_id, BURST_TASK_ID)}
    assert run["state"] == "success", f"deferrable={deferrable}: {ti}\n{''.join(v[-3000:] for v in logs.values())}"
    assert ti["try_number"] == 2, ti  # the first try failed on the output read, the retry succeeded
    assert [r["fault"] for r in reads[: len(failing)]] == ["status:503"] * len(failing), reads
    first_try = "".join(text for log_name, text in logs.items() if "attempt=1" in log_name)
    assert f"the run of {name!r} succeeded but its output could not be read" in first_try, logs.keys()
    (remote,) = emulator.started_runs(name)
    assert remote["status"] == "Success"
    assert len(triggers_of(emulator, name)) == 1  # the retry sent no second /trigger
    summary = soak_airflow.xcom(dag_id, run_id, BURST_TASK_ID)
    assert summary["status"] == "Success"
    assert summary["data"]["google-sheet-data"] == BURST_ROWS
    assert summary["viewer_url"] == remote["viewer_url"]


@pytest.mark.parametrize("dag_id", sorted(TIMEOUT_DAGS))
def test_execution_timeout_ends_the_wait_and_stops_the_run(
    soak_airflow: AirflowUnderTest, emulator: AxiomEmulator, dag_id: str
) -> None:
    name, deferrable = TIMEOUT_DAGS[dag_id]
    run_id = soak_airflow.trigger_dag(dag_id)
    # Bounded far below the run's ten minutes: only the task's execution_timeout can end it this soon.
    run = wait_until_finished(soak_airflow, dag_id, run_id, timeout=TIMEOUT_RUN_SECONDS / 4, interval=1.0)
    ti = soak_airflow.task_instance(dag_id, run_id, BURST_TASK_ID)
    (remote,) = emulator.started_runs(name)
    took = (_when(ti["end_date"]) - _when(ti["start_date"])).total_seconds()
    (trigger,) = triggers_of(emulator, name)
    stops = [r for r in emulator.requests("stop") if (r["body"] or {}).get("pid") == remote["pid"]]
    waited = stops[0]["real_time"] - trigger["real_time"] if stops else float("nan")
    print(f"\n{dag_id}: the task failed {took:.1f}s after it started; /stop {waited:.1f}s after /trigger")

    assert run["state"] == "failed" and ti["state"] == "failed", ti
    assert remote["stopped"] is True and remote["status"] == "Failure", remote
    assert stops and stops[0]["status"] == 200, stops
    logs = "".join(p.read_text(errors="replace") for p in soak_airflow.task_logs(dag_id, run_id, BURST_TASK_ID))
    assert "AxiomRunTimeoutError" in logs or "Timeout" in logs, f"deferrable={deferrable}\n{logs[-3000:]}"


def triggers_of(emulator: AxiomEmulator, name: str) -> list[dict[str, Any]]:
    return [r for r in emulator.requests("trigger") if (r["body"] or {}).get("name") == name]


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
