"""End to end: what a task is told goes to that task's own trigger log, and to no other.

A real scheduler, dag-processor, one triggerer and a LocalExecutor running six task processes at
once; six mapped copies over one automation with cloud concurrency on, triggered within seconds of
each other, so some runs cannot be told apart (``ambiguous_run``) or have their rows hidden by a
newer run (``superseded``). Every copy waits in the one triggerer, on one shared poller. Each copy's
"ambiguous" or "superseded" line must be in its own trigger log (the file Airflow writes per task
try), once, and in no other copy's. The poller's first read of run reports fails: its own lines
(naming the key) go to the triggerer's output and to no task's log, while each copy waiting then is
told of the failed look in its own log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.airflow_kit import AirflowUnderTest
from tests.e2e.dags.e2e_axiom_task_logs_dags import LOGS_AUTOMATION, LOGS_COPIES, LOGS_DAG_ID, LOGS_TASK_ID
from tests.polling import wait_for

pytestmark = pytest.mark.e2e

SCENARIO = {
    "api_key": "task-logs-key",
    "speed": 1,
    "rate_limit_per_minute": None,
    "plan": {"concurrency": 60},
    "automations": [{"name": LOGS_AUTOMATION, "duration": 10, "echo_input": True, "allow_cloud_concurrency": True}],
}
#: a run may appear in reports up to 2 s late (the emulator lists at once); one retry per call, so two
#: failed answers in a row fail one shared look
EXTRA = {"trigger_check_window": 2, "max_retries": 1}

#: What each reason's line says (``_completion.poller``), and what only the poller's own lines say.
TOLD = {
    "ambiguous_run": "cannot be told apart from other runs started within the same seconds",
    "superseded": "a newer run of it started since",
}
POLLER_OWN = "for every run waited for with it"
LOOK_FAILED = "a look at run reports failed (1/"


@pytest.fixture(scope="module")
def airflow(start_airflow) -> AirflowUnderTest:
    return start_airflow(
        SCENARIO,
        dag_files=["e2e_axiom_task_logs_dags.py"],
        dag_ids=[LOGS_DAG_ID],
        connections={"axiom_default": EXTRA},
        parallelism=LOGS_COPIES,  # every copy's task process at once: their triggers within seconds
        triggerers=1,
        env={"AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(LOGS_COPIES)},
    )


def trigger_log(af: AirflowUnderTest, run_id: str, index: int) -> str:
    """The copy's trigger log(s), as Airflow writes them per try: ``map_index=N/attempt=1.log.trigger.<job>.log``."""
    folder = af.home / "logs" / f"dag_id={LOGS_DAG_ID}" / f"run_id={run_id}" / f"task_id={LOGS_TASK_ID}"
    files: list[Path] = sorted((folder / f"map_index={index}").glob("attempt=*.log.trigger.*.log"))
    assert files, f"copy {index} has no trigger log in {folder}\n{af.diagnostics()}"
    return "\n".join(p.read_text(errors="replace") for p in files)


def test_each_copy_is_told_about_its_own_run_in_its_own_trigger_log(airflow: AirflowUnderTest) -> None:
    af = airflow
    # only the shared poller reads run reports here (cloud concurrency on: no copy looks before its trigger)
    af.emulator.set_faults("run-reports", sequence=[{"status": 502}, {"status": 502}, "ok"])
    run_id = af.trigger_dag(LOGS_DAG_ID)
    state = wait_for(
        "the copies to finish",
        lambda: (s := af.dag_run(LOGS_DAG_ID, run_id)["state"]) in ("success", "failed") and s,
        timeout=600,
        on_timeout=af.diagnostics,
    )
    path = f"/dags/{LOGS_DAG_ID}/dagRuns/{run_id}/taskInstances/{LOGS_TASK_ID}/listMapped"
    copies = sorted(af.api("GET", path, params={"limit": 100})["task_instances"], key=lambda ti: ti["map_index"])
    assert state == "success" and len(copies) == LOGS_COPIES, af.diagnostics()
    xcom = f"/dags/{LOGS_DAG_ID}/dagRuns/{run_id}/taskInstances/{LOGS_TASK_ID}/xcomEntries/return_value"
    reasons: dict[int, Any] = {
        ti["map_index"]: af.api("GET", xcom, params={"map_index": ti["map_index"]})["value"]["data_unavailable"]
        for ti in copies
    }
    logs = {index: trigger_log(af, run_id, index) for index in reasons}
    print(f"\n{LOGS_COPIES} copies over one automation, data_unavailable: {reasons}")
    assert set(reasons.values()) & set(TOLD), f"no run was ambiguous or superseded this time: {reasons}"
    for index, reason in reasons.items():
        for why, line in TOLD.items():
            count = logs[index].count(line)
            assert count == (reason == why), f"copy {index} ({reason}) has {count} '{why}' lines:\n{logs[index]}"
        assert POLLER_OWN not in logs[index], f"copy {index}'s log holds the shared poller's line:\n{logs[index]}"
        assert logs[index].count(LOOK_FAILED) <= 1, logs[index]
    assert any(LOOK_FAILED in log for log in logs.values()), "no copy was told of the failed look"
    stdout = (af.home / "triggerer.log").read_text(errors="replace")
    assert not any(line in stdout for line in TOLD.values()), "a line about one run reached the triggerer's stdout"
    assert "reading the run reports failed (key " in stdout and POLLER_OWN in stdout, af.tail("triggerer")
