"""The three readings of the API's run-id pages, in process with injected time: fan-out, stop, proof.

``by_id``: ``/run-data`` and ``/stop`` read ``run_id``; ``name_required``: ``/trigger`` returns one but
``/run-data`` needs the name (an id beside it is ignored) and ``/stop`` takes only ``pid``/``pw``;
``ignored``: every endpoint but ``/trigger`` ignores it. 20 tasks over one automation from 4 processes
(each its own clock, so each spaces only its own triggers), tasks sending their id as input, which the
emulator echoes back as the run's rows.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pendulum
import pytest

from airflow_provider_axiom import _run_ids
from airflow_provider_axiom._completion import poller as poller_module
from airflow_provider_axiom._completion import wait as wait_module
from airflow_provider_axiom._transport import Clock
from airflow_provider_axiom.exceptions import AxiomError
from airflow_provider_axiom.hooks.axiom import AxiomHook
from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.task_kit import EmulatedTime, FakeTI, defer, operator

NAME = "Scrape product prices"
TASKS, PROCESSES = 20, 4
READINGS = ("by_id", "name_required", "ignored")


class Killed(BaseException):
    """What a killed task's wait ends with (not an Exception: nothing catches it on the way out)."""


def scenario(run_ids: str) -> dict[str, Any]:
    return {
        "api_key": "lifecycle-key",
        "speed": 0,  # only the tasks' sleeps move the emulator: a loaded machine adds no time to its runs
        "rate_limit_per_minute": None,
        "plan": {"concurrency": 40},
        "run_ids": run_ids,
        "automations": [
            {"name": NAME, "duration": 20, "echo_input": True, "allow_cloud_concurrency": True},
            {"name": "Long crawl", "duration": 36000},
        ],
    }


def rows(task: int) -> list[list[str]]:
    return [["task"], [f"task-{task}"]]


def process_clocks(time: EmulatedTime) -> list[Clock]:
    base = time.as_clock()
    return [Clock(lambda: base.now(), base.monotonic, base.sleep, base.asleep) for _ in range(PROCESSES)]


def fan_out(emulator: AxiomEmulator, mode: str, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """20 tasks from 4 processes; each task's result (or ``{"failed": error}``) and when it ended."""
    time = EmulatedTime(emulator)
    clocks = process_clocks(time)
    ops = []
    for i in range(TASKS):
        op = operator(
            time, automation_name=NAME, data=rows(i), deferrable=True, poll_interval=5, cloud_concurrency=True
        )
        op.hook = type(op.hook)(op.axiom_conn_id, clock=clocks[i % PROCESSES])
        ops.append(op)
    triggers = []
    for i, op in enumerate(ops):  # a process waits its turn for its own spacing; the others do not
        triggers.append(defer(op, {"ti": FakeTI()}))
        time.sleep(1 if i % 3 == 0 else 5)  # pairs a second apart (ambiguous), the third alone (certain)
    if mode == "worker":  # each task waits in its own worker process: a poller of its own
        monkeypatch.setattr(wait_module, "poller_for", own_poller)
    ended: dict[int, pendulum.DateTime] = {}

    async def one(i: int) -> dict[str, Any]:
        trigger = triggers[i]
        if mode == "worker":
            payload = await ops[i]._wait_here(trigger.run_ref, trigger.deadline)
        else:
            trigger.hook = time.hook(trigger.axiom_conn_id)
            [payload] = [e.payload async for e in trigger.run()]
        ended[i] = time.now
        return payload

    async def main() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(one(i) for i in range(TASKS))))

    results = []
    for i, payload in enumerate(asyncio.run(main())):
        try:
            result = ops[i].execute_complete({"ti": FakeTI()}, payload)
        except AxiomError as err:
            result = {"failed": str(err)}
        results.append({**result, "ended": ended[i]})
    return results


async def own_poller(hook: Any) -> poller_module.KeyPoller:
    await hook.atransport()
    poller = poller_module.KeyPoller(hook.sibling())
    await poller.hook.atransport()
    return poller


def tally(emulator: AxiomEmulator, results: list[dict[str, Any]]) -> dict[str, int]:
    runs = {r["input_data"][1][0]: r for r in emulator.started_runs(NAME)}
    assert len(runs) == TASKS, "one run per task"
    out = dict.fromkeys(
        ("failed", "another run or rows", "ended early", "own rows", "ambiguous", "superseded", "identity run_id"), 0
    )
    for i, result in enumerate(results):
        mine = runs[f"task-{i}"]
        if "failed" in result:
            out["failed"] += 1
            continue
        assert result["run_id"] == (mine["run_id"] if emulator.scenario.run_ids != "none" else None)  # reported
        if result["ended"] < pendulum.parse(mine["finished_at"]):
            out["ended early"] += 1
        if result["data"] is not None:
            own = result["data"]["google-sheet-data"] == rows(i)
            out["own rows" if own else "another run or rows"] += 1
        out["superseded"] += result["data_unavailable"] == "superseded"
        out["identity run_id"] += result["identity"] == "run_id"
        if result["identity"] == "ambiguous":
            out["ambiguous"] += 1
        elif result["started_at"] not in (None, pendulum.parse(mine["created_at"]).replace(microsecond=0).isoformat()):
            out["another run or rows"] += 1
    return out


def proofs(emulator: AxiomEmulator, endpoint: str) -> int:
    return sum(1 for r in emulator.requests(endpoint) if (r["body"] or {}).get("run_id") == _run_ids.IMPOSSIBLE_RUN_ID)


@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_fan_out_in_each_reading(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    tallies: dict[str, dict[str, int]] = {}
    for reading in ("none", *READINGS):
        _run_ids.forget_all()  # each reading as a new process
        with AxiomEmulator(scenario(reading)) as emulator:
            monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", emulator.connection_json())
            tallies[reading] = tally(emulator, fan_out(emulator, mode, monkeypatch))
            assert proofs(emulator, "run-data") == (0 if reading == "none" else 1)  # once per key and process
            by_id_reads = [r for r in emulator.requests("run-data") if (r["body"] or {}).get("run_id")]
            assert all((r["body"] or {}).get("name") == NAME for r in by_id_reads)  # never the id alone
            if reading != "by_id":
                assert len(by_id_reads) == proofs(emulator, "run-data")  # no read shaped by an unproven id
    print(f"\n{mode}: " + "; ".join(f"{k}: {v}" for k, v in tallies.items()))
    for reading, counts in tallies.items():
        assert counts["failed"] == counts["another run or rows"] == counts["ended early"] == 0, (reading, counts)
    assert tallies["by_id"]["own rows"] == tallies["by_id"]["identity run_id"] == TASKS

    # Without a proven id every reading is the name path: the same tallies, except that which of two
    # runs a second apart is called ambiguous and which superseded depends on when each task's read
    # lands, which real I/O between the tasks' coroutines orders differently from run to run.
    def by_name(counts: dict[str, int]) -> dict[str, int]:
        out = {k: v for k, v in counts.items() if k not in ("ambiguous", "superseded")}
        return {**out, "ambiguous or superseded": counts["ambiguous"] + counts["superseded"]}

    assert by_name(tallies["name_required"]) == by_name(tallies["ignored"]) == by_name(tallies["none"])
    assert tallies["none"]["own rows"] < TASKS  # the run ids made the difference, not an easy spread


@pytest.mark.parametrize("reading", READINGS)
def test_a_timeout_stops_the_run_in_each_reading(reading: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run is stopped by pid/pw (the link is known); by id nowhere, as the link is the documented way."""
    with AxiomEmulator({**scenario(reading)}) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", emulator.connection_json())
        time = EmulatedTime(emulator)
        op = operator(time, automation_name="Long crawl", timeout=60, poll_interval=5)
        with pytest.raises(AxiomError, match="asked to stop"):
            op.execute({"ti": FakeTI()})
        [run] = emulator.started_runs("Long crawl")
        assert run["stopped"] and run["status"] == "Failure"
        [stop] = emulator.requests("stop")
        assert set(stop["body"]) >= {"pid", "pw"} and "run_id" not in stop["body"]


def stop_bodies(emulator: AxiomEmulator) -> list[dict[str, Any]]:
    """The ``/stop`` bodies sent, without the key."""
    return [{k: v for k, v in r["body"].items() if k != "key"} for r in emulator.requests("stop")]


@pytest.mark.parametrize("reading", READINGS)
@pytest.mark.parametrize("mode", ["deferred", "worker"])
def test_mark_failed_stops_the_run_by_its_link_in_each_reading(
    reading: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with AxiomEmulator(scenario(reading)) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", emulator.connection_json())
        time = EmulatedTime(emulator)
        if mode == "deferred":
            trigger = defer(operator(time, automation_name="Long crawl", deferrable=True), {"ti": FakeTI()})

            async def failed() -> str:  # what Airflow answers: a user marked the task failed
                return "failed"

            trigger._task_state = failed  # type: ignore[method-assign]
            asyncio.run(trigger.on_kill())
        else:
            op = operator(time, automation_name="Long crawl", timeout=120)

            def killed_during_wait(seconds: float) -> None:
                if op._ref is None:  # the trigger is still being paced: the kill comes while the run is waited for
                    return
                time.after_sleep = None
                op.on_kill()  # what Airflow calls when the task is killed
                raise Killed

            time.after_sleep = killed_during_wait
            with pytest.raises(Killed):
                op.execute({"ti": FakeTI()})
        [run] = emulator.started_runs("Long crawl")
        assert run["stopped"]
        assert stop_bodies(emulator) == [{"pid": run["pid"], "pw": run["pw"]}]  # the documented request, once


@pytest.mark.parametrize(("reading", "stopped"), [("by_id", True), ("name_required", False), ("ignored", False)])
def test_a_queued_run_is_stopped_by_id_only_where_stop_reads_ids(
    reading: str, stopped: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No viewer link (a queued trigger): one ``/stop`` proof with an impossible id, then by id only if read."""
    with AxiomEmulator({**scenario(reading), "plan": {"concurrency": 1}}) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", emulator.connection_json())
        emulator.start_run("Long crawl")  # holds the only slot
        time = EmulatedTime(emulator)
        # a queued trigger is the subject: sent at once, not held for the slot
        op = operator(time, automation_name=NAME, timeout=120, cloud_concurrency=True, wait_for_slot=False)

        def killed_during_wait(seconds: float) -> None:
            if op._ref is None:
                return
            time.after_sleep = None
            op.on_kill()
            raise Killed

        time.after_sleep = killed_during_wait
        with pytest.raises(Killed):
            op.execute({"ti": FakeTI()})
        [run] = emulator.runs(NAME)
        assert run["stopped"] is stopped and run["status"] == ("Failure" if stopped else "Queued")
        bodies = stop_bodies(emulator)
        assert bodies[0] == {"run_id": _run_ids.IMPOSSIBLE_RUN_ID}  # the proof, once
        assert bodies[1:] == ([{"run_id": run["run_id"]}] if stopped else [])
        if not stopped:
            assert "has not shown that /stop reads run ids" in caplog.text


def test_a_refused_read_by_id_falls_back_to_the_name(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An id the API stops knowing (expired) never fails the task: its rows come by name, proven as usual."""
    with AxiomEmulator(scenario("by_id")) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", emulator.connection_json())
        time = EmulatedTime(emulator)
        op = operator(time, automation_name=NAME, data=rows(1), poll_interval=5, cloud_concurrency=True)
        forgotten = False

        def expire_ids(seconds: float) -> None:
            nonlocal forgotten
            if _run_ids.reads(op.hook, "run-data") and not forgotten:
                emulator._core._by_id.clear()  # the API no longer knows the run's id
                forgotten = True

        time.after_sleep = expire_ids
        result = op.execute({"ti": FakeTI()})
        assert forgotten
        assert result["identity"] == "matched" and result["data"]["google-sheet-data"] == rows(1)
        assert result["run_id"] == emulator.runs(NAME)[0]["run_id"]
        assert caplog.text.count("refused a request by run id") == 1
        refused = [r for r in emulator.requests("run-data") if r["status"] == 404 and r["body"].get("run_id")]
        # the proof, the one read by the expired id, the proof again; never another read by this run's id
        assert len(refused) == 3


def test_a_proof_cut_short_is_released_for_the_next_poller(monkeypatch: pytest.MonkeyPatch) -> None:
    """A poller cancelled while its proof is in flight leaves no "proving" behind for others to wait on."""
    with AxiomEmulator(scenario("by_id")) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", emulator.connection_json())
        hook = AxiomHook()

        async def cancelled(*args: Any, **kwargs: Any) -> Any:
            assert _run_ids.proving(hook, "run-data")
            raise asyncio.CancelledError

        async def main() -> None:
            await hook.atransport()
            monkeypatch.setattr(hook, "aget_run_data", cancelled)
            with pytest.raises(asyncio.CancelledError):
                await _run_ids.aprove_run_data(hook, NAME)

        asyncio.run(main())
        assert _run_ids.due(hook, "run-data") and not _run_ids.proving(hook, "run-data")
