"""End to end: ``AxiomRunFinishedTrigger`` in an ``AssetWatcher`` schedules DAGs on runs started outside Airflow.

A real scheduler, dag-processor, triggerer and api-server (``conftest.py``) parse the shipped
example (``example_dags/example_axiom_asset_watcher.py``, copied into this Airflow's DAGs folder).
Runs are started "from outside Airflow" through the emulator (``AxiomEmulator.start_run``), as
axiom.ai's own scheduler would. Each consumer DAG run must carry its own run's payload and rows; a
failed run fires only the failure watcher; a ``kill -9`` of the triggerer between two runs never
makes a consumer run twice for one axiom.ai run (and on 3.3, with the asset state store, a run that
ended while no triggerer ran is still fired).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pendulum
import pytest

from airflow_provider_axiom._compat import ASSET_STATE_STORE
from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.e2e.airflow_kit import AIRFLOW_BIN, AirflowUnderTest, stop_processes, wait_for
from tests.scenarios import scenario

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "example_axiom_asset_watcher.py"
LOAD, ALERT = "example_axiom_load_scraped_prices", "example_axiom_scrape_failed_alert"
NAME = "Scrape product prices"
SCENARIO = scenario(
    "e2e-watch-key-77",
    [{"name": NAME, "duration": 3, "output": {"prices": [["sku", "price"], ["A-1", "1.00"]]}}],
    history=[{"name": NAME, "status": "Success", "minutes_ago": 5}],  # before the watcher: never fired
)


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AirflowUnderTest, AxiomEmulator]]:
    if not AIRFLOW_BIN.exists():
        pytest.skip("no airflow executable next to the test interpreter")
    dags = tmp_path_factory.mktemp("watch-dags")
    shutil.copy(EXAMPLE, dags / EXAMPLE.name)
    with AxiomEmulator(SCENARIO, port=0) as emulator:
        af = AirflowUnderTest(tmp_path_factory.mktemp("airflow-watch-home"), emulator, dags)
        af.env.update(
            AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD="10",  # a killed triggerer's work moves on sooner
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
        )
        try:
            af.migrate()
            for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
                af.start(component)
            af.wait_until_ready([LOAD, ALERT], dag_id_pattern="example_axiom_%")
            yield af, emulator
        finally:
            af.stop_all()
            stop_processes(af.stopped)


def polled_since(emulator: AxiomEmulator, since: float) -> bool:
    return any(r["real_time"] > since and r["status"] == 200 for r in emulator.requests("run-reports"))


def dag_runs(af: AirflowUnderTest, dag_id: str) -> list[dict[str, Any]]:
    found = af.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "run_after"})
    return list(found["dag_runs"])


#: (dag id, dag run id) -> the run keys its task saw; a finished DAG run's XCom does not change.
_seen: dict[tuple[str, str], list[str]] = {}


def fired_keys(af: AirflowUnderTest, dag_id: str, task_id: str) -> list[list[str]]:
    """Per finished consumer DAG run, the run keys its task saw in ``triggering_asset_events``."""
    out = []
    for run in dag_runs(af, dag_id):
        assert run["state"] != "failed", af.diagnostics()
        if run["state"] != "success":
            continue
        if (dag_id, run["dag_run_id"]) not in _seen:
            value = af.xcom(dag_id, run["dag_run_id"], task_id)
            _seen[dag_id, run["dag_run_id"]] = [v["run_key"] if isinstance(v, dict) else v for v in value]
        out.append(_seen[dag_id, run["dag_run_id"]])
    return out


def run_key(run: dict[str, Any]) -> str:
    return f"{run['name']}@{pendulum.parse(run['created_at']).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def wait_for_key(af: AirflowUnderTest, dag_id: str, task_id: str, key: str, timeout: float = 120) -> list[list[str]]:
    def seen() -> list[list[str]] | None:
        try:
            keys = fired_keys(af, dag_id, task_id)
        except httpx.TimeoutException:  # an api-server slowed down by a loaded machine: look again
            return None
        return keys if any(key in k for k in keys) else None

    return wait_for(f"a {dag_id} run for {key}", seen, timeout=timeout, interval=1.0, on_timeout=af.diagnostics)


def finish(emulator: AxiomEmulator, run: dict[str, Any]) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        now = next(r for r in emulator.runs(NAME) if r["run_id"] == run["run_id"])
        return now if now["status"] in ("Success", "Failure") else None

    return wait_for("the axiom.ai run to end", done, timeout=30)


def test_runs_started_outside_airflow_schedule_the_consumer(watched: tuple[AirflowUnderTest, AxiomEmulator]):
    af, emulator = watched
    began = time.time()
    wait_for("the watchers to poll", lambda: polled_since(emulator, began), timeout=120, on_timeout=af.diagnostics)
    # the watchers set their watermark before their first poll; each run lasts 3 s, so it ends after it
    latencies = []
    for i in range(3):
        rows = [["sku", "price"], [f"SKU-{i}", f"{i}.00"]]
        run = finish(emulator, emulator.start_run(NAME, output={"prices": rows}))
        key = run_key(run)
        keys = wait_for_key(af, LOAD, "load_rows", key)
        assert len(keys) == i + 1 and keys[-1] == [key], keys  # one consumer run per axiom.ai run, in order
        consumer = dag_runs(af, LOAD)[-1]
        loaded = af.xcom(LOAD, consumer["dag_run_id"], "load_rows")
        assert loaded == [{"run_key": key, "finished_at": loaded[0]["finished_at"], "data": {"prices": rows}}]
        latencies.append((pendulum.parse(consumer["queued_at"]) - pendulum.parse(run["finished_at"])).total_seconds())
    print(f"\nrun end -> consumer DAG run queued: {', '.join(f'{s:.1f}' for s in latencies)} s (tick 5 s)")

    failed = run_key(finish(emulator, emulator.start_run(NAME, outcome="Failure")))
    assert wait_for_key(af, ALERT, "alert", failed) == [[failed]]
    assert len(dag_runs(af, LOAD)) == 3  # the success watcher saw the same tick and did not fire
    assert emulator.rate_limited_calls() == 0


def test_a_triggerer_kill_neither_refires_nor_loses_runs(watched: tuple[AirflowUnderTest, AxiomEmulator]):
    af, emulator = watched
    before = [k for keys in fired_keys(af, LOAD, "load_rows") for k in keys]
    triggerer = af.procs.pop("triggerer")
    os.killpg(triggerer.pid, signal.SIGKILL)
    af.stopped.append(triggerer)
    while_down = run_key(finish(emulator, emulator.start_run(NAME)))

    restarted = time.time()
    af.start("triggerer")
    polled = lambda: polled_since(emulator, restarted)  # noqa: E731
    wait_for("the new triggerer to poll", polled, timeout=120, on_timeout=af.diagnostics)
    if ASSET_STATE_STORE:  # the run that ended while no triggerer ran fires first, on its own
        wait_for_key(af, LOAD, "load_rows", while_down)
    # (two events a second apart can reach the scheduler as one asset-triggered DAG run that shows
    # only one of them: the next run starts once the first has been consumed)
    after = run_key(finish(emulator, emulator.start_run(NAME)))
    wait_for_key(af, LOAD, "load_rows", after)
    every = [k for keys in fired_keys(af, LOAD, "load_rows") for k in keys]
    assert len(every) == len(set(every)), every  # no axiom.ai run loaded twice
    assert set(before) <= set(every)
    print(f"\nafter kill -9: fired {sorted(set(every) - set(before))}; ended while down: {while_down}")
    if not ASSET_STATE_STORE:
        assert while_down not in every  # below 3.3 the watermark restarts with the triggerer (README)
