"""End to end: fan-out over one automation, with parallel worker processes and two triggerers on one key.

20 mapped tasks per DAG, each sending its own id as input, which the emulator echoes back as the
run's rows (so a task's rows prove whose run it got). A real scheduler, dag-processor, two
triggerers and a LocalExecutor running 4 task processes at once; the setups:
- each reading of the run-id pages, deferred and in the worker: with ``by_id`` every task gets its own
  run's rows by its id; with ``name_required`` and ``ignored`` (``/trigger`` returns an id that
  ``/run-data`` does not read) no task fails for the id, and each reports its id and gets what a task
  without one gets (its own rows, or says why not);
- no run id, one run at a time (a pool of one slot that counts deferred tasks): every task gets its own rows;
- no run id, cloud concurrency on, all triggered within seconds: no task reports another task's run or
  rows, and none ends before its own run did; tasks that cannot tell their run apart say so.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pendulum
import pytest

from airflow_provider_axiom._compat import AIRFLOW_V_3_1_PLUS
from airflow_provider_axiom._run_ids import IMPOSSIBLE_RUN_ID
from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests import scenarios
from tests.e2e.airflow_kit import AIRFLOW_BIN, AirflowUnderTest, wait_for
from tests.e2e.dags.e2e_axiom_fanout_dags import (
    FANOUT,
    FANOUT_DAGS,
    READING_CONNS,
    SERIAL_POOL,
    TASK_ID,
    task_input,
)

pytestmark = pytest.mark.e2e
#: On Airflow 3.0 (sqlite) 160 tasks at once lock its dag-processor out of the database ("database is
#: locked": it exits): there the run-id readings' DAGs run one after another, each still 20 tasks over
#: one automation from 4 task processes and two triggerers; the pool and cloud-concurrency DAGs, which
#: exercise only the provider's own code, run on the newer minors.
ONE_DAG_AT_A_TIME = not AIRFLOW_V_3_1_PLUS
DAGS = [
    d
    for d in FANOUT_DAGS
    if not ONE_DAG_AT_A_TIME or d not in ("e2e_axiom_fanout_serial", "e2e_axiom_fanout_concurrent")
]


def scenario(key: str, *, run_ids: str) -> dict[str, Any]:
    return scenarios.scenario(
        key,
        [
            {"name": "Fanout by id", "duration": 15, "echo_input": True, "allow_cloud_concurrency": True},
            {"name": "Fanout worker", "duration": 4, "echo_input": True, "allow_cloud_concurrency": True},
            {"name": "Fanout serial", "duration": 2, "echo_input": True},
            {"name": "Fanout concurrent", "duration": 15, "echo_input": True, "allow_cloud_concurrency": True},
        ],
        concurrency=60,
        run_ids=run_ids,
    )


#: Each process's share of the key; a run may appear in reports up to 2 s late (the emulator lists at once).
EXTRA = {"rate_limit_per_minute": 30, "trigger_check_window": 2}


def connection(emulator: AxiomEmulator) -> str:
    return json.dumps({**json.loads(emulator.connection_json()), "extra": EXTRA})


@pytest.fixture(scope="module")
def fanout(
    start_airflow: Callable[..., AirflowUnderTest],
) -> Iterator[tuple[AirflowUnderTest, dict[str, AxiomEmulator]]]:
    with contextlib.ExitStack() as stack:
        readings = {
            conn_id: stack.enter_context(AxiomEmulator(scenario(f"fanout-{reading}-key", run_ids=reading), port=0))
            for reading, conn_id in READING_CONNS.items()
        }
        af = start_airflow(
            scenario("fanout-key", run_ids="none"),
            dag_files=["e2e_axiom_fanout_dags.py"],
            dag_ids=list(FANOUT_DAGS),
            connections={"axiom_default": EXTRA},
            parallelism=4,  # four task processes at once
            triggerers=2,
            env={
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(FANOUT),
                **{f"AIRFLOW_CONN_{conn_id.upper()}": connection(emu) for conn_id, emu in readings.items()},
            },
        )
        pool = subprocess.run(
            [str(AIRFLOW_BIN), "pools", "set", SERIAL_POOL, "1", "one axiom run at a time", "--include-deferred"],
            env=af.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert pool.returncode == 0, pool.stdout + pool.stderr
        yield af, {"axiom_default": af.emulator, **readings}


def mapped(af: AirflowUnderTest, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    found = af.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{TASK_ID}/listMapped", params={"limit": 100})
    return sorted(found["task_instances"], key=lambda ti: ti["map_index"])


def result_of(af: AirflowUnderTest, dag_id: str, run_id: str, index: int) -> dict[str, Any]:
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{TASK_ID}/xcomEntries/return_value"
    return dict(af.api("GET", path, params={"map_index": index})["value"])


def own_run(emulator: AxiomEmulator, name: str, index: int) -> dict[str, Any]:
    [run] = [r for r in emulator.runs(name) if r["input_data"] == task_input(index)]
    return run


def test_fan_out_over_one_automation(fanout: tuple[AirflowUnderTest, dict[str, AxiomEmulator]]) -> None:
    af, emulators = fanout
    runs: dict[str, str] = {}

    def finished() -> dict[str, str] | None:
        try:
            states = {dag_id: af.dag_run(dag_id, run_id)["state"] for dag_id, run_id in runs.items()}
        except httpx.TimeoutException:  # a busy api-server: look again
            return None
        return states if all(s in ("success", "failed") for s in states.values()) else None

    for group in [[d] for d in DAGS] if ONE_DAG_AT_A_TIME else [DAGS]:
        runs.update({dag_id: af.trigger_dag(dag_id) for dag_id in group})
        states = wait_for("the fan-out DAG runs to finish", finished, timeout=1200, on_timeout=af.diagnostics)
    table: dict[str, dict[str, int]] = {}
    for dag_id, run_id in runs.items():
        name, conn_id, _, _ = FANOUT_DAGS[dag_id]
        emulator = emulators[conn_id]
        assert len([r for r in emulator.runs(name) if not r.get("history")]) == FANOUT, "one run per task"
        counted = ("own rows", "ambiguous", "superseded", "by run id", "failed")
        tally = dict.fromkeys((*counted, "another task's run", "ended before its run"), 0)
        for ti in mapped(af, dag_id, run_id):
            index = ti["map_index"]
            if ti["state"] != "success":
                tally["failed"] += 1
                continue
            result = result_of(af, dag_id, run_id, index)
            mine = own_run(emulator, name, index)
            assert result["run_id"] == (mine["run_id"] if emulator.scenario.run_ids != "none" else None)
            tally["by run id"] += result["identity"] == "run_id"
            if pendulum.parse(ti["end_date"]) < pendulum.parse(mine["finished_at"]).subtract(seconds=1):
                tally["ended before its run"] += 1
            if result["data"] is not None:
                rows = result["data"]["google-sheet-data"]
                tally["own rows" if rows == task_input(index) else "another task's run"] += 1
            elif result["data_unavailable"] == "superseded":  # its own run, but a newer one hides its rows
                tally["superseded"] += 1
            if result["identity"] == "ambiguous":
                tally["ambiguous"] += 1
                assert result["data_unavailable"] == "ambiguous_run" and result["started_at"] is None
                starts = {pendulum.parse(c["started_at"]) for c in result["candidates"]}
                assert pendulum.parse(mine["created_at"]).replace(microsecond=0) in starts
            elif result["started_at"] is not None:
                started = pendulum.parse(result["started_at"])
                if started != pendulum.parse(mine["created_at"]).replace(microsecond=0):
                    tally["another task's run"] += 1
        table[dag_id] = tally
    print("\nfan-out over one automation, 20 mapped tasks each:")
    for dag_id, tally in table.items():
        print(f"  {dag_id}: " + ", ".join(f"{k} {v}" for k, v in tally.items()))
    for conn_id, emulator in emulators.items():
        proofs = [r for r in emulator.requests("run-data") if (r["body"] or {}).get("run_id") == IMPOSSIBLE_RUN_ID]
        print(f"  {conn_id}: {len(proofs)} run-id proofs, {len(emulator.requests('run-data'))} /run-data calls")
    assert states == dict.fromkeys(runs, "success"), af.diagnostics()
    for tally in table.values():
        assert tally["failed"] == tally["another task's run"] == tally["ended before its run"] == 0
    for dag_id in ("e2e_axiom_fanout_run_id", "e2e_axiom_fanout_by_id_worker"):
        assert table[dag_id]["own rows"] == table[dag_id]["by run id"] == FANOUT, dag_id
    if "e2e_axiom_fanout_serial" in table:
        assert table["e2e_axiom_fanout_serial"]["own rows"] == FANOUT
    # without a run id the API reads, each has its own rows, or says why not; none is taken "by run id"
    for dag_id in ("concurrent", "name_required", "name_required_worker", "ignored", "ignored_worker"):
        if f"e2e_axiom_fanout_{dag_id}" not in table:
            continue
        tally = table[f"e2e_axiom_fanout_{dag_id}"]
        assert tally["own rows"] + tally["ambiguous"] + tally["superseded"] == FANOUT and tally["by run id"] == 0
    for emulator in emulators.values():
        assert emulator.requests("stop") == []
        # a by-id read carries the name, and only where the API reads ids is it shaped by a real run's id
        by_id = [r["body"] for r in emulator.requests("run-data") if (r["body"] or {}).get("run_id")]
        assert all(body.get("name") for body in by_id)
        if emulator.scenario.run_ids != "by_id":
            assert all(body["run_id"] == IMPOSSIBLE_RUN_ID for body in by_id)
