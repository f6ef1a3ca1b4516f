"""Transient faults around the run, through ``airflow dags test``.

Right after a successful ``/trigger``, ``/run-reports`` answers 503, 429, a gateway's HTML 502 page
and 503, with the connection's ``max_retries`` at 2: one hook call cannot absorb the burst, so the
operator's tolerance of transient poll failures must cover every look at the run, the first one
included. The same burst on ``/run-data`` right after the run succeeded must be covered by the
tolerance of output reads. In both modes (deferred: the trigger runs in-line; worker-side waiting)
the task returns the run's rows and the emulator holds exactly one run. The lasting faults are in
``tests/test_lasting_faults.py``; the DAGs are in ``tests/e2e/dags/e2e_axiom_burst_dags.py``.
"""

from __future__ import annotations

import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.burst_kit import SCENARIO, run_dag
from tests.dags_cli import xcom
from tests.e2e.dags.e2e_axiom_burst_dags import (
    BURST_DAGS,
    BURST_ENDPOINTS,
    BURST_FAULTS,
    BURST_LABELS,
    BURST_ROWS,
    BURST_TASK_ID,
)


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
