"""End to end: mapped copies over one automation without cloud concurrency, held until it is idle.

A real scheduler, dag-processor, one triggerer and a LocalExecutor running 4 task processes at
once; ten copies of a 5 s run; no pool. Each copy is held in the triggerer and let go one at a time,
so every run starts at once (none queued by the emulator), none reports another's run or rows, none
ends before its run, the runs never overlap, and every copy should have its own rows: a copy let go holds the
automation until its task's wait reaches the triggerer and has read its rows (up to two minutes
after its run ended: on a loaded Airflow 3.0 a 5 s run used to end first, and the next copy's run hid its
rows).
"""

from __future__ import annotations

from typing import Any

import pendulum
import pytest

from tests.e2e.airflow_kit import AirflowUnderTest, wait_for
from tests.e2e.dags.e2e_axiom_slot_dags import SLOT_AUTOMATION, SLOT_COPIES, SLOT_DAG_ID, SLOT_TASK_ID, copy_input
from tests.scenarios import scenario

pytestmark = pytest.mark.e2e

RUN_SECONDS = 5
SCENARIO = scenario("slot-fanout-key", [{"name": SLOT_AUTOMATION, "duration": RUN_SECONDS, "echo_input": True}])


@pytest.fixture(scope="module")
def held(start_airflow) -> AirflowUnderTest:
    return start_airflow(
        SCENARIO,
        dag_files=["e2e_axiom_slot_dags.py"],
        dag_ids=[SLOT_DAG_ID],
        parallelism=4,
        triggerers=1,
        env={"AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(SLOT_COPIES)},
    )


def test_copies_over_one_automation_run_one_after_another_each_its_own(held: AirflowUnderTest) -> None:
    af = held
    run_id = af.trigger_dag(SLOT_DAG_ID)
    started = pendulum.now("UTC")
    state = wait_for(
        "the held fan-out to finish",
        lambda: (s := af.dag_run(SLOT_DAG_ID, run_id)["state"]) in ("success", "failed") and s,
        timeout=600,
        on_timeout=af.diagnostics,
    )
    total = (pendulum.now("UTC") - started).total_seconds()
    path = f"/dags/{SLOT_DAG_ID}/dagRuns/{run_id}/taskInstances/{SLOT_TASK_ID}/listMapped"
    copies = sorted(af.api("GET", path, params={"limit": 100})["task_instances"], key=lambda ti: ti["map_index"])
    runs = [r for r in af.emulator.runs(SLOT_AUTOMATION) if not r["history"]]
    tally = {"own rows": 0, "another's run": 0, "ended before its run": 0, "queued by the API": 0}
    without_rows: list[str] = []  # why a copy has no rows: the CI log says, for whoever looks next
    failed = [f"copy {ti['map_index']}: {ti['state']}" for ti in copies if ti["state"] != "success"]
    assert not failed, f"{failed}\n{af.diagnostics()}"
    for ti in copies:
        index = ti["map_index"]
        xcom = f"/dags/{SLOT_DAG_ID}/dagRuns/{run_id}/taskInstances/{SLOT_TASK_ID}/xcomEntries/return_value"
        result: dict[str, Any] = dict(af.api("GET", xcom, params={"map_index": index})["value"])
        [mine] = [r for r in runs if r["input_data"] == copy_input(index)]
        tally["queued by the API"] += bool(mine["was_queued"])
        if (result.get("data") or {}).get("google-sheet-data") == copy_input(index):
            tally["own rows"] += 1
        else:
            without_rows.append(f"copy {index}: {result.get('identity')}, {result.get('data_unavailable')}")
        if result.get("started_at") and pendulum.parse(result["started_at"]) != pendulum.parse(
            mine["created_at"]
        ).replace(microsecond=0):
            tally["another's run"] += 1
        if pendulum.parse(ti["end_date"]) < pendulum.parse(mine["finished_at"]).subtract(seconds=1):
            tally["ended before its run"] += 1
    print(
        f"\n{SLOT_COPIES} held copies of a {RUN_SECONDS} s run: {total:.0f} s in all "
        f"(the runs alone {SLOT_COPIES * RUN_SECONDS} s); " + ", ".join(f"{k} {v}" for k, v in tally.items())
    )
    print("copies without rows: " + ("; ".join(without_rows) or "none"))
    if without_rows:  # the timeline, for whoever looks next: each run, and when its copy's task ended
        ended = {ti["map_index"]: ti["end_date"] for ti in copies}
        for run in sorted(runs, key=lambda r: r["created_at"]):
            index = next(i for i in range(SLOT_COPIES) if run["input_data"] == copy_input(i))
            print(f"  copy {index}: run {run['created_at']} .. {run['finished_at']}, task ended {ended[index]}")
        print(af.diagnostics())
    assert state == "success", af.diagnostics()
    assert len(runs) == SLOT_COPIES, "one run per copy"
    assert tally["another's run"] == 0 and tally["ended before its run"] == 0 and tally["queued by the API"] == 0
    # Every copy its own rows: a copy let go holds its automation until its wait has read its rows (or
    # two minutes after its run ended, if its task never comes back); the timeline above says when each
    # run ran, if one does not.
    assert tally["own rows"] == SLOT_COPIES, without_rows
    starts = sorted(pendulum.parse(r["created_at"]) for r in runs)
    ends = sorted(pendulum.parse(r["finished_at"]) for r in runs)
    assert all(start >= end for start, end in zip(starts[1:], ends[:-1], strict=True)), "runs overlapped"
