"""End to end: fan-out over one automation, with parallel worker processes and two triggerers on one key.

20 mapped tasks per DAG, each sending its own id as input, which the emulator echoes back as the
run's rows (so a task's rows prove whose run it got). A real scheduler, dag-processor, two
triggerers and a LocalExecutor running 4 task processes at once; three setups:
- the API returns run ids: every task gets its own run's rows;
- no run id, one run at a time (a pool of one slot that counts deferred tasks): every task gets its own rows;
- no run id, cloud concurrency on, all triggered within seconds: no task reports another task's run or
  rows, and none ends before its own run did; tasks that cannot tell their run apart say so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pendulum
import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.e2e.conftest import AIRFLOW_BIN, AirflowUnderTest, stop_processes, wait_for
from tests.e2e.dags.e2e_axiom_fanout_dags import FANOUT, FANOUT_DAGS, SERIAL_POOL, TASK_ID, task_input

pytestmark = pytest.mark.e2e


def scenario(key: str, *, run_id_mode: bool) -> dict[str, Any]:
    return {
        "api_key": key,
        "speed": 1,
        "rate_limit_per_minute": None,
        "run_id_mode": run_id_mode,
        "plan": {"concurrency": 60},
        "automations": [
            {"name": "Fanout by id", "duration": 15, "echo_input": True, "allow_cloud_concurrency": True},
            {"name": "Fanout serial", "duration": 2, "echo_input": True},
            {"name": "Fanout concurrent", "duration": 15, "echo_input": True, "allow_cloud_concurrency": True},
        ],
    }


def connection(emulator: AxiomEmulator) -> str:
    conn = json.loads(emulator.connection_json())
    # each process's share of the key; a run may appear in reports up to 2 s late (the emulator lists at once)
    conn["extra"] = {"rate_limit_per_minute": 30, "trigger_check_window": 2}
    return json.dumps(conn)


@pytest.fixture(scope="module")
def fanout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AirflowUnderTest, AxiomEmulator, AxiomEmulator]]:
    if not AIRFLOW_BIN.exists():
        pytest.skip(f"no airflow executable next to {sys.executable}")
    with (
        AxiomEmulator(scenario("fanout-key", run_id_mode=False), port=0) as by_name,
        AxiomEmulator(scenario("fanout-id-key", run_id_mode=True), port=0) as by_id,
    ):
        af = AirflowUnderTest(tmp_path_factory.mktemp("airflow-fanout-home"), connection(by_name))
        af.env.update(
            AIRFLOW__CORE__PARALLELISM="4",  # four task processes at once
            AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=str(FANOUT),
            AIRFLOW_CONN_AXIOM_BY_ID=connection(by_id),
        )
        try:
            af.migrate()
            pool = subprocess.run(
                [str(AIRFLOW_BIN), "pools", "set", SERIAL_POOL, "1", "one axiom run at a time", "--include-deferred"],
                env=af.env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert pool.returncode == 0, pool.stdout + pool.stderr
            for component in ("api-server", "scheduler", "dag-processor", "triggerer", "triggerer-b"):
                af.start(component)
            af.wait_until_ready(list(FANOUT_DAGS))
            yield af, by_name, by_id
        finally:
            af.stop_all()
            stop_processes(af.stopped)


def mapped(af: AirflowUnderTest, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    found = af.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{TASK_ID}/listMapped", params={"limit": 100})
    return sorted(found["task_instances"], key=lambda ti: ti["map_index"])


def result_of(af: AirflowUnderTest, dag_id: str, run_id: str, index: int) -> dict[str, Any]:
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{TASK_ID}/xcomEntries/return_value"
    return dict(af.api("GET", path, params={"map_index": index})["value"])


def own_run(emulator: AxiomEmulator, name: str, index: int) -> dict[str, Any]:
    [run] = [r for r in emulator.runs(name) if r["input_data"] == task_input(index)]
    return run


def test_fan_out_over_one_automation(fanout: tuple[AirflowUnderTest, AxiomEmulator, AxiomEmulator]) -> None:
    af, by_name, by_id = fanout
    runs = {dag_id: af.trigger_dag(dag_id) for dag_id in FANOUT_DAGS}

    def finished() -> dict[str, str] | None:
        try:
            states = {dag_id: af.dag_run(dag_id, run_id)["state"] for dag_id, run_id in runs.items()}
        except httpx.TimeoutException:  # a busy api-server: look again
            return None
        return states if all(s in ("success", "failed") for s in states.values()) else None

    states = wait_for("the three fan-out DAG runs to finish", finished, timeout=900, on_timeout=af.diagnostics)
    table: dict[str, dict[str, int]] = {}
    for dag_id, run_id in runs.items():
        name, conn_id, _ = FANOUT_DAGS[dag_id]
        emulator = by_id if conn_id == "axiom_by_id" else by_name
        assert len([r for r in emulator.runs(name) if not r.get("history")]) == FANOUT, "one run per task"
        tally = {"own rows": 0, "ambiguous": 0, "superseded": 0, "another task's run": 0, "ended before its run": 0}
        for ti in mapped(af, dag_id, run_id):
            index = ti["map_index"]
            assert ti["state"] == "success", (dag_id, ti)
            result = result_of(af, dag_id, run_id, index)
            mine = own_run(emulator, name, index)
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
    assert states == dict.fromkeys(runs, "success"), af.diagnostics()
    for tally in table.values():
        assert tally["another task's run"] == 0 and tally["ended before its run"] == 0
    assert table["e2e_axiom_fanout_run_id"]["own rows"] == FANOUT
    assert table["e2e_axiom_fanout_serial"]["own rows"] == FANOUT
    concurrent = table["e2e_axiom_fanout_concurrent"]
    # each has its own rows, or says why not
    assert concurrent["own rows"] + concurrent["ambiguous"] + concurrent["superseded"] == FANOUT
    assert by_name.requests("stop") == [] and by_id.requests("stop") == []
