"""Starting runs when they will start at once (``_completion.slots``): the rule, and tasks held by it.

Against the emulator with emulated time: a plan of one concurrent run, an automation without cloud
concurrency, the queue retried every five minutes. A held task must start its run only when a slot
is free (the emulator's run was never queued), finish within its run plus a few ticks after the
slot frees, and never report another client's run.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any, cast

import pendulum
import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_axiom._compat import RESUME_GUARD
from airflow_provider_axiom._completion import slots as slots_module
from airflow_provider_axiom._completion.poller import KeyPoller
from airflow_provider_axiom._completion.slots import GRANT_TTL, HANDOVER, Grant, KeySlots, hold_for
from airflow_provider_axiom._completion.waiter import Waiter
from airflow_provider_axiom._run_ref import RunRef
from airflow_provider_axiom.exceptions import AxiomRunTimeoutError
from airflow_provider_axiom.results import RunReport
from tests.scenarios import scenario
from tests.task_kit import EmulatedTime, FakeTI, assert_worker_can_send, import_string, operator

QUICK, OTHER = "Quick scrape", "Nightly export"
SCENARIO = scenario(
    "slots-key",
    [
        {"name": QUICK, "duration": 30, "echo_input": True},
        {"name": OTHER, "duration": 120},
        {"name": "Stuck", "duration": 36000},
    ],
    speed=0,  # only the tasks' sleeps move the emulator: a loaded machine adds no time
    rate_limit_per_minute=100,  # the API's limit ...
    rate_limit_clock="emulated",  # ... on the emulated clock: minutes of emulated waiting pass in milliseconds
    concurrency=1,
    plan={"queue_retry_seconds": 300},
)
pytestmark = pytest.mark.axiom_scenario(SCENARIO)

NOW = pendulum.datetime(2026, 12, 6, 12, 0, 0)


# -- the rule


def _report(name: str, status: str, seconds_ago: int = 0) -> RunReport:
    at = NOW.subtract(seconds=seconds_ago)
    return RunReport(task_name=name, status=status, description="", created_at=at, updated_at=at)


names = st.sampled_from(["A", "B", "C"])
reports = st.lists(st.builds(_report, names, st.sampled_from(["Running", "Success", "Failure"])), max_size=6)
limits = st.one_of(st.none(), st.integers(min_value=1, max_value=4))
grants = st.lists(st.builds(Grant, names, st.just(NOW)), max_size=2)


@given(name=names, listed=reports, limit=limits, cc=st.booleans(), granted=grants, extra=names)
def test_one_more_running_run_never_frees_a_held_trigger(name, listed, limit, cc, granted, extra):
    before = hold_for(name, listed, limit=limit, cloud_concurrency=cc, grants=granted)
    after = hold_for(name, [_report(extra, "Running"), *listed], limit=limit, cloud_concurrency=cc, grants=granted)
    assert before is None or after is not None


@given(name=names, listed=reports, limit=limits, cc=st.booleans(), granted=grants)
def test_a_higher_limit_or_cloud_concurrency_never_holds_what_was_free(name, listed, limit, cc, granted):
    free = hold_for(name, listed, limit=limit, cloud_concurrency=cc, grants=granted) is None
    if free:
        assert hold_for(name, listed, limit=None, cloud_concurrency=cc, grants=granted) is None
        assert hold_for(name, listed, limit=limit, cloud_concurrency=True, grants=granted) is None


@given(name=names, listed=reports, limit=limits, granted=grants)
def test_a_free_trigger_without_cloud_concurrency_has_its_automation_idle(name, listed, limit, granted):
    if hold_for(name, listed, limit=limit, cloud_concurrency=False, grants=granted) is None:
        assert not any(r.task_name == name and r.status == "Running" for r in listed)
        assert not any(g.automation_name == name for g in granted)
        running = sum(r.status == "Running" for r in listed)
        assert limit is None or running + len(granted) < limit


def test_finished_runs_hold_nothing_and_a_grant_holds_its_automation():
    done = [_report(QUICK, "Success", 5), _report(OTHER, "Failure", 9)]
    assert hold_for(QUICK, done, limit=1, cloud_concurrency=False) is None
    held = hold_for(QUICK, done, limit=None, cloud_concurrency=False, grants=[Grant(QUICK, NOW)])
    assert held is not None and held.reason == "automation_running"
    full = hold_for(QUICK, [_report(OTHER, "Running")], limit=1, cloud_concurrency=True)
    assert full is not None and full.reason == "account_full"


def test_a_grant_holds_until_its_wait_is_handed_over_or_its_run_ended_a_handover_ago():
    slots = KeySlots()
    slots.grant(QUICK, NOW)
    ran = [RunReport(task_name=QUICK, status="Success", description="", created_at=NOW, updated_at=NOW.add(seconds=5))]
    later = NOW.add(seconds=30)
    assert slots.pending([], later) and slots.pending(ran, later)  # not listed; listed, ended, no wait here
    assert slots.pending(ran, later, [(QUICK, NOW.subtract(seconds=10)), (OTHER, later)])  # neither is its wait
    assert not KeySlots([Grant(QUICK, NOW)]).pending(ran, later, [(QUICK, NOW.add(seconds=1))])  # its wait came
    assert not KeySlots([Grant(QUICK, NOW)]).pending(ran, NOW.add(seconds=5) + HANDOVER)  # it went elsewhere
    assert not KeySlots([Grant(QUICK, NOW)]).pending([], NOW + GRANT_TTL)  # its run never came


def test_the_slot_wait_learns_who_waits_from_the_pollers_membership():
    """``names_waited``: the automations of the waits still open (their rows may be pending);
    ``triggers_waited``: every wait joined, open or done, with its trigger time (a grant's wait came)."""
    poller = KeyPoller(cast(Any, None))  # membership alone: no tick, no call
    running, done = (
        Waiter(RunRef.first_since(QUICK, NOW), NOW.add(hours=1)),
        Waiter(RunRef.first_since(OTHER, NOW.add(seconds=7)), NOW.add(hours=1)),
    )
    done.finish()
    for waiter in (running, done):
        poller.join(waiter, start=False)
    assert poller.names_waited() == {QUICK}
    assert poller.triggers_waited() == {(QUICK, NOW), (OTHER, NOW.add(seconds=7))}
    poller.leave(done)
    assert poller.triggers_waited() == {(QUICK, NOW)}


# -- tasks held by it, against the emulator


@pytest.fixture
def one_slot(axiom_emulator, monkeypatch) -> Any:
    """The connection says the plan runs one run at a time (``concurrent_runs``)."""
    conn = json.loads(axiom_emulator.connection_json())
    conn["extra"] = {**conn.get("extra", {}), "concurrent_runs": 1}
    monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", json.dumps(conn))
    return axiom_emulator


def _mine(emulator, task: str) -> dict[str, Any]:
    (run,) = [r for r in emulator.started_runs(QUICK) if r["input_data"] == [["task"], [task]]]
    return run


def _logged(caplog, capsys) -> str:
    """The task log: through logging, structlog or (Airflow 3.0) both."""
    return caplog.text + capsys.readouterr().out


def test_a_task_in_the_worker_waits_for_the_slot_then_starts_at_once(one_slot, caplog, capsys):
    caplog.set_level(logging.INFO)
    emulated = EmulatedTime(one_slot)
    one_slot.start_run(OTHER)  # another automation holds the only slot for 120 s
    op = operator(emulated, automation_name=QUICK, data=[["task"], ["t1"]], deferrable=False, poll_interval=5)
    started = emulated.now
    result = op.execute({"ti": FakeTI()})
    run = _mine(one_slot, "t1")
    assert not run["was_queued"]  # sent when the slot was free: it started at once
    assert result["identity"] == "matched" and result["data_unavailable"] is None
    assert '"t1"' in json.dumps(result["data"]) and "theirs" not in json.dumps(result["data"])
    # the slot freed after 120 s; the run took 30 s: done within a few ticks of both
    assert (emulated.now - started).total_seconds() <= 120 + 30 + 4 * 5 + 10
    logged = _logged(caplog, capsys)
    assert "holding the trigger of 'Quick scrape'" in logged and "a slot is free" in logged


def _defer(op, ctx, method: str) -> Any:
    with pytest.raises(TaskDeferred) as exc:
        op.execute(ctx) if method == "execute" else getattr(op, method)(ctx)
    assert_worker_can_send(exc.value)
    classpath, kwargs = exc.value.trigger.serialize()
    assert "slots-key" not in repr(kwargs)
    return exc.value, import_string(classpath)(**kwargs)


async def _first_event(trigger, emulated) -> dict[str, Any]:
    trigger.hook = emulated.hook(trigger.axiom_conn_id)
    events = [e.payload async for e in trigger.run()]
    assert len(events) == 1
    return events[0]


def test_a_deferred_task_is_held_in_the_triggerer_then_starts_at_once(one_slot):
    emulated = EmulatedTime(one_slot)
    one_slot.start_run(OTHER)
    op = operator(emulated, automation_name=QUICK, data=[["task"], ["t1"]], deferrable=True)
    ctx = {"ti": FakeTI()}
    deferred, slot_trigger = _defer(op, ctx, "execute")
    assert deferred.method_name == "execute_after_slot" and not one_slot.started_runs(QUICK)
    event = asyncio.run(_first_event(slot_trigger, emulated))
    assert event["slot"] == "free" and not [r for r in one_slot.started_runs(OTHER) if r["status"] == "Running"]
    with pytest.raises(TaskDeferred) as exc:
        op.execute_after_slot(ctx, event)
    assert exc.value.method_name == "execute_complete"
    run_event = asyncio.run(_first_event(exc.value.trigger, emulated))
    result = op.execute_complete(ctx, run_event)
    assert not _mine(one_slot, "t1")["was_queued"]
    assert result["identity"] == "matched" and result["data_unavailable"] is None


def test_another_clients_trigger_first_is_waited_out_and_never_reported(one_slot):
    emulated = EmulatedTime(one_slot)
    theirs = one_slot.start_run(QUICK, [["task"], ["theirs"]])  # another client, same automation, first
    op = operator(emulated, automation_name=QUICK, data=[["task"], ["mine"]], deferrable=False)
    result = op.execute({"ti": FakeTI()})
    mine = _mine(one_slot, "mine")
    assert not mine["was_queued"] and mine["created_at"] != theirs["created_at"]
    assert result["started_at"].startswith(mine["created_at"][:19]) and result["identity"] == "matched"
    assert '"mine"' in json.dumps(result["data"]) and "theirs" not in json.dumps(result["data"])


def test_mapped_copies_in_one_triggerer_start_one_after_another_each_its_own(one_slot, monkeypatch):
    """Ten mapped copies over one automation without cloud concurrency, held in one triggerer.

    Emulated time adds up every sleep of every coroutine (concurrent sleeps do not overlap as real ones
    do), so how long the copies take here depends on how the event loop interleaves them: the ten-minute
    hold bound (tested on its own below) is lifted, and the total is bounded loosely."""
    monkeypatch.setattr("airflow_provider_axiom.operators.axiom.DEFAULT_MAX_HOLD", timedelta(minutes=60))
    emulated = EmulatedTime(one_slot)
    ops = [operator(emulated, automation_name=QUICK, data=[["task"], [f"m{i}"]], deferrable=True) for i in range(10)]
    ctxs = [{"ti": FakeTI()} for _ in ops]
    for i, ctx in enumerate(ctxs):
        ctx["ti"].map_index = i  # a mapped copy asks the triggerer at once
    started = emulated.now
    slot_triggers = [_defer(op, ctx, "execute")[1] for op, ctx in zip(ops, ctxs, strict=True)]
    results: list[dict[str, Any]] = [{} for _ in ops]

    async def copy(i: int) -> None:
        event = await _first_event(slot_triggers[i], emulated)
        assert event["slot"] == "free"
        try:
            ops[i].execute_after_slot(ctxs[i], event)
        except TaskDeferred as exc:  # the run's trigger, in the same triggerer
            results[i] = ops[i].execute_complete(ctxs[i], await _first_event(exc.trigger, emulated))

    async def all_copies() -> None:
        await asyncio.gather(*(copy(i) for i in range(10)))

    asyncio.run(all_copies())
    runs = one_slot.started_runs(QUICK)
    assert len(runs) == 10 and not any(r["was_queued"] for r in runs)
    for i, result in enumerate(results):
        assert result["identity"] == "matched", result
        # the next copy waited for this one's rows: a newer run of the name would have hidden them
        assert result["data_unavailable"] is None and result["data"]["google-sheet-data"] == [["task"], [f"m{i}"]]
        assert result["started_at"].startswith(_mine(one_slot, f"m{i}")["created_at"][:19])
    total = (emulated.now - started).total_seconds()
    print(f"10 copies of a 30 s run, one slot: {total:.0f} s in all (the runs alone: 300 s)")
    # each hand-over: the run's end seen, its rows read and confirmed, the next copy let go: a few ticks
    # (about 500 s in all here); a copy queued by the API would add five minutes or more on its own
    assert total < 10 * 30 + 10 * 60


def test_a_slot_that_never_frees_is_waited_for_no_longer_than_the_apis_queue(one_slot, caplog, capsys):
    caplog.set_level(logging.INFO)
    emulated = EmulatedTime(one_slot)
    one_slot.start_run("Stuck")  # ten hours
    op = operator(emulated, automation_name=QUICK, data=[["task"], ["t1"]], deferrable=False, timeout=1200)
    started = emulated.now
    with pytest.raises(AxiomRunTimeoutError):
        op.execute({"ti": FakeTI()})  # sent after ten minutes, queued behind "Stuck", never matched in time
    sent = one_slot.requests("trigger")[0]
    assert timedelta(minutes=10) <= pendulum.parse(sent["time"]) - started <= timedelta(minutes=10, seconds=15)
    assert "as long as the API's own queue would take; sending it anyway" in _logged(caplog, capsys)


def test_a_deadline_while_held_fails_the_task_and_starts_nothing(one_slot):
    emulated = EmulatedTime(one_slot)
    one_slot.start_run(OTHER)
    op = operator(emulated, automation_name=QUICK, data=[["task"], ["t1"]], deferrable=False, timeout=30)
    with pytest.raises(AxiomRunTimeoutError, match="held for a slot"):
        op.execute({"ti": FakeTI()})
    assert not one_slot.started_runs(QUICK) and not one_slot.requests("trigger")


def test_without_the_hold_a_queued_trigger_still_takes_the_queue_rule(one_slot):
    emulated = EmulatedTime(one_slot)
    one_slot.start_run(OTHER)
    op = operator(emulated, automation_name=QUICK, data=[["task"], ["t1"]], deferrable=False, wait_for_slot=False)
    result = op.execute({"ti": FakeTI()})
    assert _mine(one_slot, "t1")["was_queued"]
    assert result["identity"] == "matched"


def test_a_slot_taken_after_the_triggerer_let_go_is_waited_for_again_with_the_same_bound(one_slot):
    """Another process (a second triggerer, a worker) takes the slot between the event and the send."""
    emulated = EmulatedTime(one_slot)
    one_slot.start_run(OTHER)
    op = operator(emulated, automation_name=QUICK, data=[["task"], ["t1"]], deferrable=True)
    ctx = {"ti": FakeTI()}
    _, slot_trigger = _defer(op, ctx, "execute")
    event = asyncio.run(_first_event(slot_trigger, emulated))
    assert event["slot"] == "free"
    one_slot.start_run(QUICK, [["task"], ["theirs"]])  # took the slot first
    with pytest.raises(TaskDeferred) as exc:
        op.execute_after_slot(ctx, event)
    assert exc.value.method_name == "execute_after_slot" and not one_slot.requests("trigger")
    assert (
        exc.value.trigger.held_since == slot_trigger.held_since
    )  # the ten-minute bound still counts from the first hold


def test_a_copy_whose_wait_reaches_the_triggerer_after_its_run_ended_keeps_its_rows(one_slot):
    """A let-go copy's run (30 s) ends before its task's wait is handed to the triggerer (a slow resume):
    the next copy is let go only once that wait has arrived and read its rows, not when the run is listed."""
    emulated = EmulatedTime(one_slot)
    ops = [operator(emulated, automation_name=QUICK, data=[["task"], [f"m{i}"]], deferrable=True) for i in range(2)]
    ctxs = [{"ti": FakeTI()} for _ in ops]
    for i, ctx in enumerate(ctxs):
        ctx["ti"].map_index = i
    slot_triggers = [_defer(op, ctx, "execute")[1] for op, ctx in zip(ops, ctxs, strict=True)]
    results: list[dict[str, Any]] = [{}, {}]
    let_go: list[int] = []

    async def copy(i: int) -> None:
        event = await _first_event(slot_triggers[i], emulated)
        with pytest.raises(TaskDeferred) as exc:
            ops[i].execute_after_slot(ctxs[i], event)
        let_go.append(i)
        if let_go[0] == i:  # the first copy let go: its wait arrives 60 s later, after its run ended
            arrives = emulated.now.add(seconds=60)
            while emulated.now < arrives and len(let_go) == 1:  # noqa: ASYNC110 (emulated time: no event to wait on)
                await asyncio.sleep(0)  # the other copy's slot wait ticks (and moves the clock) meanwhile
        results[i] = ops[i].execute_complete(ctxs[i], await _first_event(exc.value.trigger, emulated))

    async def both() -> None:
        await asyncio.gather(*(copy(i) for i in range(2)))

    asyncio.run(both())
    first = let_go[0]
    for i, result in enumerate(results):
        assert result["identity"] == "matched" and result["data_unavailable"] is None, (i, result)
        assert result["data"]["google-sheet-data"] == [["task"], [f"m{i}"]]
    runs = sorted(one_slot.started_runs(QUICK), key=lambda r: r["created_at"])
    assert runs[0]["input_data"] == [["task"], [f"m{first}"]] and not any(r["was_queued"] for r in runs)


def test_a_slot_trigger_fires_no_sooner_than_the_resume_guard_after_its_task_deferred(one_slot):
    """Airflow fails a task whose trigger fires before the scheduler saw its deferring process end
    (apache/airflow#71580): even with the slot free, the event waits out ``RESUME_GUARD``."""
    emulated = EmulatedTime(one_slot)
    op = operator(emulated, automation_name=QUICK, data=[["task"], ["m0"]], deferrable=True)
    ctx = {"ti": FakeTI()}
    ctx["ti"].map_index = 0  # a mapped copy defers even with the slot free
    deferred_at = emulated.now
    _, trigger = _defer(op, ctx, "execute")
    assert trigger.serialize()[1]["deferred_at"] is not None
    trigger.deferred_in = "worker-host:1234"  # as in a triggerer, another process than the task's
    assert asyncio.run(_first_event(trigger, emulated))["slot"] == "free"
    assert emulated.now - deferred_at >= RESUME_GUARD
    # a trigger serialised before the guard existed has no deferred_at: it fires on the first free tick
    kwargs = {k: v for k, v in trigger.serialize()[1].items() if k not in ("deferred_at", "deferred_in")}
    slots_module._slots.clear()  # as in a new triggerer: the first trigger's grant is not there
    before = emulated.now
    assert asyncio.run(_first_event(type(trigger)(**kwargs), emulated))["slot"] == "free"
    assert emulated.now - before < RESUME_GUARD
