"""A bounded soak through a real scheduler and triggerer.

One Airflow (scheduler, dag-processor, triggerer, api-server; LocalExecutor, sqlite) for the
module, against an emulator whose every new run shows in ``/run-reports`` only 0.3-3 s after its
trigger (seeded), and whose ``/trigger`` returns run ids that ``/run-data`` and ``/stop`` do not read
(``run_ids: name_required``). The soak (``dags/e2e_axiom_soak_dags.py``): 100 runs, half deferred and
half waited for in the worker, while the emulator injects about 10 % 5xx, 429 bursts, connection
resets and lost ``/trigger`` answers (processed, answer lost; the run then registers late, so the
check before any re-send must look more than once), and the triggerer is restarted mid-wait.
``/run-data``, read only after a run succeeded, also gets bursts longer than one hook call absorbs,
so some output reads are retried on a later tick. Four more tasks (two deferred, two in the worker)
outlive their ``execution_timeout`` of 8 s: each must fail and stop its run. It prints a table and
asserts that nothing was duplicated, lost, wrong or failed, that no task succeeded without its rows
or with another task's rows (each task sends unique rows, which its automation echoes back), and
that the API key is nowhere in the logs or the metadata DB. Bounded: the soak gives up after five
minutes. (The burst, retry and timeout tests through Airflow: ``test_faults_through_airflow.py``.)
"""

from __future__ import annotations

import json
import random
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.e2e.airflow_kit import FINISHED, AirflowUnderTest, wait_for
from tests.e2e.dags.e2e_axiom_burst_dags import TIMEOUT_RUN_SECONDS
from tests.e2e.dags.e2e_axiom_soak_dags import (
    SOAK_DAG_ID,
    SOAK_RUNS_PER_MODE,
    SOAK_TASKS,
    SOAK_TIMEOUT_RUNS,
    SOAK_TIMEOUT_TASK,
    soak_automation,
    soak_rows,
)
from tests.scenarios import scenario

pytestmark = [pytest.mark.e2e, pytest.mark.soak]

#: A key that appears nowhere else, so finding it in a file means it leaked.
API_KEY = f"sk-soak-{secrets.token_hex(12)}"
SEED = 2026
SOAK_LIMIT = 600.0  # seconds from triggering the soak DAG run to its end (about 300 on a busy 2-core machine)
RUN_SECONDS = 3  # each soak automation's run
PARALLELISM = 8  # task slots of the LocalExecutor (deferred tasks hold none; waiting tasks mostly sleep)

SCENARIO = scenario(
    API_KEY,
    [
        *(
            # Cloud concurrency on: a duplicated run starts (and is counted) instead of queueing the
            # account's FIFO queue for five minutes.
            {
                "name": soak_automation(task_id, i),
                "duration": RUN_SECONDS,
                "echo_input": True,
                "allow_cloud_concurrency": True,
            }
            for task_id in SOAK_TASKS
            for i in range(SOAK_RUNS_PER_MODE)
        ),
        *(
            {
                "name": soak_automation(SOAK_TIMEOUT_TASK, i),
                "duration": TIMEOUT_RUN_SECONDS,
                "echo_input": True,
                "allow_cloud_concurrency": True,
            }
            for i in range(SOAK_TIMEOUT_RUNS)
        ),
    ],
    concurrency=99,
    seed=SEED,
    registration_delay=[0.3, 3],
    # /trigger returns run ids that /run-data does not read (the name is required; an id beside it is
    # ignored): the soak's tallies must be those of an API without run ids
    run_ids="name_required",
)


#: More 503s in a row than one hook call tries (the default ``max_retries`` = 5 gives six attempts).
LONG_BURST = [{"status": 503}] * 7


def soak_faults(rng: random.Random, length: int, *, lost_answers: bool, long_bursts: bool = False) -> list[Any]:
    """A seeded script of faults: ~10 % 5xx, ~3 % resets, 429 bursts, (for /trigger) lost answers, and
    (``long_bursts``) ~1 % bursts longer than one hook call absorbs."""
    faults: list[Any] = []
    while len(faults) < length:
        draw = rng.random()
        if draw < 0.10:
            faults.append({"status": rng.choice([500, 502, 503])})
        elif draw < 0.13:
            faults.append("reset")
        elif draw < 0.15:
            faults.extend([{"status": 429, "retry_after": 1}] * rng.randint(2, 3))
        elif long_bursts and draw < 0.16:
            faults.extend(LONG_BURST)
        elif lost_answers and draw < 0.27:
            faults.append({"lost_response": rng.choice(["reset", 502])})
        else:
            faults.append("ok")
    return faults


@pytest.fixture(scope="module")
def soak_airflow(start_airflow: Callable[..., AirflowUnderTest]) -> AirflowUnderTest:
    return start_airflow(
        SCENARIO,
        dag_files=["e2e_axiom_soak_dags.py"],
        dag_ids=[SOAK_DAG_ID],
        parallelism=PARALLELISM,
    )


@pytest.fixture(scope="module")
def emulator(soak_airflow: AirflowUnderTest) -> AxiomEmulator:
    return soak_airflow.emulator


# --------------------------------------------------------------------------- the soak


def _task_instances(af: AirflowUnderTest, run_id: str, task_ids: Any = SOAK_TASKS) -> list[dict[str, Any]]:
    """Every task instance of the run, page by page: the API serves at most ``[api] maximum_page_limit``
    (100 by default) per request, and the soak's DAG run has more."""
    path = f"/dags/{SOAK_DAG_ID}/dagRuns/{run_id}/taskInstances"
    listed: list[dict[str, Any]] = []
    while True:
        for attempt in range(3):  # a busy api-server may take longer than the client's timeout
            try:
                page = af.api("GET", path, params={"limit": 100, "offset": len(listed), "order_by": "id"})
                break
            except httpx.TimeoutException:
                if attempt == 2:
                    raise
        listed += page["task_instances"]
        if not page["task_instances"] or len(listed) >= page["total_entries"]:
            break
    return [ti for ti in listed if ti["task_id"] in task_ids]


def _xcom(af: AirflowUnderTest, run_id: str, task_id: str, map_index: int, key: str = "return_value") -> Any:
    response = af.http.get(
        f"/dags/{SOAK_DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
        params={"map_index": map_index},
    )
    return response.json()["value"] if response.status_code == 200 else None


def _tally(af: AirflowUnderTest, emulator: AxiomEmulator, run_id: str) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    tis = {(ti["task_id"], ti["map_index"]): ti for ti in _task_instances(af, run_id)}
    everyones = {json.dumps(soak_rows(t, i)): (t, i) for t in SOAK_TASKS for i in range(SOAK_RUNS_PER_MODE)}
    for task_id in SOAK_TASKS:
        row = dict.fromkeys(
            (
                "started",
                "completed",
                "duplicated",
                "lost",
                "wrong rows",
                "failed (transient)",
                "succeeded without rows",
                "reported another task's run",
            ),
            0,
        )
        for index in range(SOAK_RUNS_PER_MODE):
            ti = tis.get((task_id, index))
            runs = emulator.started_runs(soak_automation(task_id, index))
            row["started"] += 1
            row["duplicated"] += max(0, len(runs) - 1)
            state = ti["state"] if ti else None
            if state in ("failed", "upstream_failed"):
                row["failed (transient)"] += 1
            elif state != "success" or not runs:
                row["lost"] += 1
            else:
                result = _xcom(af, run_id, task_id, index) or {}
                rows = (result.get("data") or {}).get("google-sheet-data")
                if rows is None and result.get("identity") != "ambiguous":  # rows asked for, run provably its own
                    row["succeeded without rows"] += 1
                elif rows is not None and everyones.get(json.dumps(rows), (task_id, index)) != (task_id, index):
                    row["reported another task's run"] += 1
                elif rows != soak_rows(task_id, index) or result.get("status") != "Success":
                    row["wrong rows"] += 1
                elif all(r["status"] == "Success" for r in runs):
                    row["completed"] += 1
                else:
                    row["lost"] += 1
        table[task_id] = row
    table["total"] = {k: sum(table[t][k] for t in SOAK_TASKS) for k in table[next(iter(SOAK_TASKS))]}
    return table


def _print_table(table: dict[str, dict[str, int]]) -> None:
    columns = list(table["total"])
    width = max(len(c) for c in columns) + 2
    print(f"{'':16}" + "".join(f"{c:>{width}}" for c in columns))
    for name, row in table.items():
        print(f"{name:16}" + "".join(f"{row[c]:>{width}}" for c in columns))


def _timeouts(af: AirflowUnderTest, emulator: AxiomEmulator, run_id: str) -> dict[str, int]:
    """The ``execution_timeout`` tasks: how many failed, how many runs they waited for (their viewer link
    is in XCom), and how many of those were stopped. A task whose ``/trigger`` met the soak's faults
    for longer than 8 s times out before it knows of a run."""
    tis = _task_instances(af, run_id, {SOAK_TIMEOUT_TASK})
    runs = {
        r["viewer_url"]: r
        for i in range(SOAK_TIMEOUT_RUNS)
        for r in emulator.started_runs(soak_automation(SOAK_TIMEOUT_TASK, i))
    }
    links = [_xcom(af, run_id, SOAK_TIMEOUT_TASK, i, key="viewer_url") for i in range(SOAK_TIMEOUT_RUNS)]
    waited = [runs[link] for link in links if link in runs]
    return {
        "tasks": SOAK_TIMEOUT_RUNS,
        "failed": sum(1 for ti in tis if ti["state"] == "failed"),
        "runs started": len(runs),
        "runs waited for": len(waited),
        "runs stopped": sum(1 for r in waited if r["stopped"] and r["status"] == "Failure"),
    }


def _fault_counts(emulator: AxiomEmulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in emulator.requests():
        if request["fault"]:
            label = f"{request['endpoint']} {request['fault']}"
            counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))


def _key_hits(home: Path) -> dict[str, int]:
    """Occurrences of the API key in every file under the Airflow home and in a dump of the metadata DB."""
    needle = API_KEY.encode()
    hits: dict[str, int] = {}
    files = [p for p in home.rglob("*") if p.is_file()]
    for path in files:
        count = path.read_bytes().count(needle)
        if count:
            hits[str(path.relative_to(home))] = count
    with sqlite3.connect(home / "airflow.db") as db:
        dump = "\n".join(db.iterdump())
    if dump.count(API_KEY):
        hits["airflow.db (dump)"] = dump.count(API_KEY)
    print(f"searched {len(files)} files under the Airflow home and a {len(dump) // 1024} KiB DB dump for the key")
    return hits


def _wait_with_progress(af: AirflowUnderTest, run_id: str, started: float) -> dict[str, Any] | None:
    """Wait for the soak's DAG run to end (None after ``SOAK_LIMIT``), printing task states every 20 s."""
    last_print = [0.0]

    def finished() -> dict[str, Any] | None:
        elapsed = time.monotonic() - started
        run = af.dag_run(SOAK_DAG_ID, run_id)
        if run["state"] in FINISHED:
            return dict(run)
        if elapsed - last_print[0] >= 20:
            last_print[0] = elapsed
            states: dict[str, int] = {}
            for ti in _task_instances(af, run_id):
                states[str(ti["state"])] = states.get(str(ti["state"]), 0) + 1
            print(f"  {elapsed:4.0f}s {json.dumps(dict(sorted(states.items())))}")
        return None

    remaining = max(0.0, SOAK_LIMIT - (time.monotonic() - started))
    try:
        return wait_for("the soak's DAG run to end", finished, timeout=remaining, interval=1.0)
    except AssertionError:  # not in time: the caller still prints the tallies before it fails
        return None


def test_soak_many_runs_through_faults_and_a_triggerer_restart(
    soak_airflow: AirflowUnderTest, emulator: AxiomEmulator
) -> None:
    af = soak_airflow
    rng = random.Random(SEED)
    emulator.clear_faults()
    emulator.set_faults("trigger", sequence=soak_faults(rng, 3000, lost_answers=True))
    emulator.set_faults("run-reports", sequence=soak_faults(rng, 6000, lost_answers=False))
    # /run-data is read only once a run succeeded: these are faults on the output read after success.
    emulator.set_faults("run-data", sequence=soak_faults(rng, 6000, lost_answers=False, long_bursts=True))

    started = time.monotonic()
    run_id = af.trigger_dag(SOAK_DAG_ID)

    # Restart the triggerer while deferred tasks wait in it.
    def several_deferred() -> list[dict[str, Any]] | None:
        deferred = [ti for ti in _task_instances(af, run_id) if ti["state"] == "deferred" and ti["triggerer_job"]]
        return deferred if len(deferred) >= 3 else None

    waiting = wait_for("several deferred soak tasks", several_deferred, timeout=SOAK_LIMIT / 2, interval=0.5)
    exit_code = af.stop("triggerer")
    assert exit_code == 0, af.tail("triggerer")
    af.start("triggerer")
    restarted_at = time.monotonic() - started
    print(f"\nrestarted the triggerer at {restarted_at:.0f}s with {len(waiting)} tasks deferred")

    run = _wait_with_progress(af, run_id, started)
    wall = time.monotonic() - started

    table = _tally(af, emulator, run_id)
    runs_started = sum(
        len(emulator.started_runs(soak_automation(t, i))) for t in SOAK_TASKS for i in range(SOAK_RUNS_PER_MODE)
    )
    print(f"\nsoak: {table['total']['started']} task runs, {runs_started} automation runs, wall time {wall:.0f}s")
    print(f"faults delivered: {json.dumps(_fault_counts(emulator))}")
    _print_table(table)
    timeouts = _timeouts(af, emulator, run_id)
    print(f"execution_timeout (8 s) on ten-minute runs: {json.dumps(timeouts)}")
    failed = [f"{ti['task_id']}[{ti['map_index']}]" for ti in _task_instances(af, run_id) if ti["state"] != "success"]
    if failed:
        print(f"not successful: {failed}")
        print(af.tail("triggerer", 2000))

    hits = _key_hits(af.home)
    print(f"API key occurrences: {sum(hits.values())} {hits or ''}")

    total = table["total"]
    assert total["started"] >= 100
    assert {k: v for k, v in total.items() if k not in ("started", "completed")} == {
        "duplicated": 0,
        "lost": 0,
        "wrong rows": 0,
        "failed (transient)": 0,
        "succeeded without rows": 0,
        "reported another task's run": 0,
    }, table
    assert total["completed"] == total["started"]
    assert timeouts["failed"] == timeouts["tasks"], timeouts
    assert timeouts["runs waited for"] >= 1 and timeouts["runs stopped"] == timeouts["runs waited for"], timeouts
    # The timeout tasks fail by design, so the DAG run ends failed; it must end within the limit.
    assert run is not None, f"the soak did not finish within {SOAK_LIMIT:.0f}s"
    assert hits == {}, f"the API key leaked into {hits}"
