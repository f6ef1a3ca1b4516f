"""End to end: a deferred run through a real scheduler and triggerer sends the provider's metrics to StatsD.

Airflow's ``[metrics]`` points at a UDP listener (``airflow_e2e`` and ``statsd`` of ``conftest.py``);
every API call the worker and the triggerer made for this run must have been counted once, under
the connection id, and the key never sent.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.e2e.airflow_kit import AirflowUnderTest, wait_for
from tests.e2e.dags.e2e_axiom_dags import TASK_ID
from tests.metrics_kit import FROM_WAITING, P
from tests.statsd_listener import StatsdListener

pytestmark = pytest.mark.e2e

DAG_ID, NAME = "e2e_axiom_deferred_success", "E2E quick scrape"
ENDPOINTS = ("trigger", "run-reports", "run-data")


def counted_by_statsd(statsd: StatsdListener) -> dict[str, float]:
    return {endpoint: statsd.total(f"{P}calls.axiom_default.{endpoint}.ok") for endpoint in ENDPOINTS}


def test_the_worker_and_the_triggerer_count_every_call(
    airflow_e2e: AirflowUnderTest, emulator: AxiomEmulator, statsd: StatsdListener
):
    af = airflow_e2e
    # The Airflow is shared with other modules: count this run's calls only (no other task runs now).
    calls_before, counted_before = emulator.call_counts(), counted_by_statsd(statsd)
    started_before = statsd.total(f"{P}runs_started.axiom_default.started")
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
    want = {endpoint: float(counts.get(endpoint, 0) - calls_before.get(endpoint, 0)) for endpoint in ENDPOINTS}

    def counted() -> dict[str, float] | None:
        now = counted_by_statsd(statsd)
        got = {endpoint: now[endpoint] - counted_before[endpoint] for endpoint in ENDPOINTS}
        return got if got == want else None

    got = wait_for("every call to be counted", counted, timeout=15, on_timeout=lambda: str(sorted(statsd.names())))
    print("calls counted by StatsD:", got, "emulator:", want)
    assert got["run-reports"] >= 1 and got["run-data"] == 1  # the triggerer's poll and output read
    assert statsd.total(f"{P}runs_started.axiom_default.started") - started_before == 1
    assert statsd.names() >= FROM_WAITING
    assert not any(emulator.api_key in line for line in statsd.raw)
    passwords = [r["pw"] for r in emulator.started_runs() if r["pw"]]
    assert passwords and not any(pw in line for line in statsd.raw for pw in passwords)  # no viewer password
