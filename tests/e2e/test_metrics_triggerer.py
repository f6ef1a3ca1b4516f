"""End to end: a deferred run through a real scheduler and triggerer sends the provider's metrics to StatsD.

Airflow's ``[metrics]`` points at a UDP listener in this test; every API call the worker and the
triggerer made must have been counted once, under the connection id, and the key never sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.e2e.conftest import SCENARIO, AirflowUnderTest, wait_for
from tests.e2e.dags.e2e_axiom_dags import TASK_ID
from tests.statsd_listener import StatsdListener
from tests.test_metrics import FROM_WAITING, P

pytestmark = pytest.mark.e2e

DAG_ID, NAME = "e2e_axiom_deferred_success", "E2E quick scrape"


@pytest.fixture(scope="module")
def statsd() -> Iterator[StatsdListener]:
    with StatsdListener() as listener:
        yield listener


@pytest.fixture(scope="module")
def airflow_with_statsd(start_airflow: Callable[..., AirflowUnderTest], statsd: StatsdListener) -> AirflowUnderTest:
    return start_airflow(SCENARIO, dag_files=["e2e_axiom_dags.py"], dag_ids=[DAG_ID], env=statsd.env())


@pytest.fixture(scope="module")
def emulator(airflow_with_statsd: AirflowUnderTest) -> AxiomEmulator:
    return airflow_with_statsd.emulator


def test_the_worker_and_the_triggerer_count_every_call(
    airflow_with_statsd: AirflowUnderTest, emulator: AxiomEmulator, statsd: StatsdListener
):
    af = airflow_with_statsd
    run_id = af.trigger_dag(DAG_ID)
    seen: list[str] = []

    def finished() -> dict[str, Any] | None:
        ti = af.task_instance(DAG_ID, run_id, TASK_ID)
        if not seen or seen[-1] != ti["state"]:
            seen.append(ti["state"])
        run = af.dag_run(DAG_ID, run_id)
        return run if run["state"] in ("success", "failed") else None

    run = wait_for(f"{DAG_ID} to finish", finished, timeout=120, interval=0.2, on_timeout=af.diagnostics)
    assert run["state"] == "success", af.diagnostics()
    assert "deferred" in seen, seen

    counts = emulator.call_counts()

    def counted() -> dict[str, float] | None:
        got = {
            endpoint: statsd.total(f"{P}calls.axiom_default.{endpoint}.ok")
            for endpoint in ("trigger", "run-reports", "run-data")
        }
        want = {endpoint: float(counts.get(endpoint, 0)) for endpoint in got}
        return got if got == want else None

    got = wait_for("every call to be counted", counted, timeout=15, on_timeout=lambda: str(sorted(statsd.names())))
    print("calls counted by StatsD:", got, "emulator:", counts)
    assert got["run-reports"] >= 1 and got["run-data"] == 1  # the triggerer's poll and output read
    assert statsd.total(f"{P}runs_started.axiom_default.started") == 1
    assert statsd.names() >= FROM_WAITING
    assert not any(emulator.api_key in line for line in statsd.raw)
