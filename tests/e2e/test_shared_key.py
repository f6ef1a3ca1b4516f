"""End to end: two triggerers (Airflow's HA mode) and LocalExecutor workers share one API key.

Every deferred task gets its event; the emulator's count of calls for the key stays well inside
100 a minute; and killing the triggerer that holds the triggers hands them to the other one,
with no second run and no stop. Each triggerer polls once per tick for all the runs it holds.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.airflow_kit import AirflowUnderTest, wait_for, wait_until_finished
from tests.e2e.dags.e2e_axiom_ha_dags import DEFERRED, IN_WORKER
from tests.scenarios import scenario

pytestmark = [pytest.mark.e2e, pytest.mark.soak]

DAG_ID = "e2e_axiom_shared_key"
KEY = "e2e-shared-key"
SCENARIO = scenario(
    KEY,
    [
        *({"name": f"HA job {i}", "duration": 75, "output": {"out": [[f"job {i}"]]}} for i in range(DEFERRED)),
        *({"name": f"HA worker job {i}", "duration": 20, "output": {"out": [["w"]]}} for i in range(IN_WORKER)),
    ],
    rate_limit_per_minute=100,  # the API's limit: the processes sharing the key must keep under it together
    concurrency=20,
)


def most_calls_in_a_minute(requests: list[dict[str, Any]]) -> int:
    times = sorted(r["real_time"] for r in requests)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 60:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.fixture(scope="module")
def ha(start_airflow: Callable[..., AirflowUnderTest]) -> AirflowUnderTest:
    return start_airflow(
        SCENARIO,
        dag_files=["e2e_axiom_ha_dags.py"],
        dag_ids=[DAG_ID],
        connections={"axiom_default": {"rate_limit_per_minute": 30}},  # each process's share of the key (README)
        parallelism=4,
        env={"AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10"},
    )


def test_two_triggerers_and_workers_share_one_key(ha: AirflowUnderTest) -> None:
    af, emulator = ha, ha.emulator
    run_id = af.trigger_dag(DAG_ID)

    def all_deferred() -> bool:
        states = [af.task_instance(DAG_ID, run_id, f"deferred_{i}") for i in range(DEFERRED)]
        assert not [s for s in states if s["state"] in ("failed", "upstream_failed")], states
        return all(s["state"] == "deferred" and s["triggerer_job"] for s in states)

    wait_for("every deferrable task to be deferred", all_deferred, timeout=180, on_timeout=af.diagnostics)
    # A second triggerer joins (HA); then the first, which holds every trigger, is killed outright.
    first_triggerer = af.procs.pop("triggerer")
    af.start("triggerer")
    wait_for("the second triggerer to run", lambda: af.running_jobs("TriggererJob") >= 2, timeout=90)
    os.killpg(first_triggerer.pid, signal.SIGKILL)
    af.stopped.append(first_triggerer)

    run = wait_until_finished(af, DAG_ID, run_id, timeout=300)
    assert run["state"] == "success", af.diagnostics()
    for i in range(DEFERRED):
        assert af.xcom(DAG_ID, run_id, f"deferred_{i}")["data"] == {"out": [[f"job {i}"]]}
    runs = emulator.started_runs()
    assert len(runs) == DEFERRED + IN_WORKER  # no second run, whatever moved where
    assert emulator.requests("stop") == []  # a triggerer's death never stops a run
    requests = emulator.requests()
    assert not [r for r in requests if r["status"] == 429]
    busiest = most_calls_in_a_minute(requests)
    print(f"\nshared key: {len(requests)} calls, at most {busiest} in any 60 s (budget 100)")
    assert busiest <= 70  # well within the budget: polling costs one call per tick per triggerer
