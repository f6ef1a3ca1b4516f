"""A burst of transient answers on the first looks at the run, through ``airflow dags test``.

Right after a successful ``/trigger``, ``/run-reports`` answers 503, 429, a gateway's HTML 502 page
and 503, with the connection's ``max_retries`` at 2: one hook call cannot absorb the burst, so the
operator's tolerance of transient poll failures must cover every look at the run, the first one
included. In both modes (deferred: the trigger runs in-line; worker-side waiting) the task succeeds
and the emulator holds exactly one run. The DAGs are in ``tests/e2e/dags/e2e_axiom_burst_dags.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.dags_cli import REPO, dags_test, xcom
from tests.e2e.dags import e2e_axiom_burst_dags as burst

DAGS = REPO / "tests" / "e2e" / "dags"

SCENARIO: dict[str, Any] = {
    "api_key": "burst-key",
    "speed": 1,
    "rate_limit_per_minute": None,
    "plan": {"concurrency": 5},
    "automations": [{"name": name, "duration": 3, "echo_input": True} for name, _ in burst.BURST_DAGS.values()],
}


def burst_connection(emulator: AxiomEmulator) -> str:
    """The emulator's connection with ``max_retries`` = 2."""
    return json.dumps({**json.loads(emulator.connection_json()), "extra": {"max_retries": 2}})


@pytest.mark.airflow_db
@pytest.mark.parametrize("dag_id", sorted(burst.BURST_DAGS))
def test_a_burst_on_the_first_looks_at_the_run_is_tolerated(migrated_db, dag_id):
    name, deferrable = burst.BURST_DAGS[dag_id]
    with AxiomEmulator(SCENARIO) as emulator:
        emulator.set_faults("run-reports", sequence=burst.BURST_FAULTS)
        env = {
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            f"AIRFLOW_CONN_{burst.BURST_CONN_ID.upper()}": burst_connection(emulator),
        }
        result = dags_test(dag_id, env)
        output = result.stdout + result.stderr
        runs = emulator.started_runs(name)
        reports = emulator.requests("run-reports")
        triggers = emulator.requests("trigger")

    # The burst reached the task: one hook call's three attempts met 503, 429 and the HTML page.
    assert [r["fault"] for r in reports[:3]] == burst.BURST_LABELS[:3], reports[:4]
    assert result.returncode == 0, f"the task failed on the burst (deferrable={deferrable}):\n{output[-5000:]}"
    assert len(runs) == 1, runs
    assert len(triggers) == 1, triggers
    assert runs[0]["status"] == "Success"
    summary = xcom(dag_id, burst.BURST_TASK_ID)
    assert summary["status"] == "Success"
    assert summary["data"]["google-sheet-data"] == burst.BURST_ROWS
    assert summary["viewer_url"] == runs[0]["viewer_url"]
    if deferrable:
        assert "[DAG TEST] running trigger in line" in output  # it really deferred
