"""Waiting at scale and the hardening cases, against the emulator.

Time is injected (``EmulatedTime``): every wait of the hook, the limiter and the shared poller
moves the emulator's clock, so minutes of waiting take milliseconds and every assertion counts
calls instead of timing them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from typing import Any

import httpx
import pendulum
import pytest

from airflow_provider_axiom._compat import AirflowFailException
from airflow_provider_axiom._completion.registry import poller_for
from airflow_provider_axiom._completion.wait import wait_for_run
from airflow_provider_axiom._run_ref import RunRef
from airflow_provider_axiom.exceptions import AxiomConfigError, AxiomConnectionError
from airflow_provider_axiom.hooks.axiom import AxiomHook
from airflow_provider_axiom.triggers.axiom import AxiomRunTrigger
from tests.scenarios import scenario
from tests.task_kit import NEW_ROWS, SCENARIO, EmulatedTime, FakeTaskStateStore, FakeTI, defer, operator

pytestmark = pytest.mark.axiom_scenario(SCENARIO)


def scale_scenario(n: int) -> dict[str, Any]:
    return scenario(
        "scale-key",
        [
            {
                "name": f"Job {i}",
                "duration": 30 + (i * 37) % 270,
                "outcome": "Failure" if i % 7 == 0 else "Success",
                "output": {"out": [[f"row {i}"]]},
            }
            for i in range(n)
        ],
        # no limit: it counts real time, and this test runs minutes of emulated time in seconds
        rate_limit_per_minute=None,
        concurrency=1000,
        plan={"queue_retry_seconds": 30},
    )


def trigger_for(result: Any, emulated: EmulatedTime, deadline_minutes: float = 60) -> AxiomRunTrigger:
    trigger = AxiomRunTrigger(run=RunRef.from_trigger(result), deadline=emulated.now.add(minutes=deadline_minutes))
    trigger.hook = emulated.hook()
    return trigger


async def first_event(trigger: AxiomRunTrigger) -> dict[str, Any]:
    events = [e.payload async for e in trigger.run()]
    assert len(events) == 1
    return events[0]


@pytest.mark.axiom_scenario(scale_scenario(200))
def test_200_waiters_share_one_reports_call_per_tick(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    hook = emulated.hook()
    results = [hook.trigger_automation(f"Job {i}") for i in range(200)]
    began = emulated.now
    triggers = [trigger_for(r, emulated) for r in results]

    async def main() -> list[dict[str, Any]]:
        return await asyncio.gather(*(first_event(t) for t in triggers))

    events = asyncio.run(main())
    for i, event in enumerate(events):
        expected = "failure" if i % 7 == 0 else "success"
        assert event["status"] == expected, (i, event)
        if expected == "success":
            assert event["summary"]["data"] == {"out": [[f"row {i}"]]}
    reports_calls = len(axiom_emulator.requests("run-reports"))
    ticks = (emulated.now - began).total_seconds() / 5
    successes = sum(1 for i in range(200) if i % 7)
    # one call per 5 s tick for all 200, not 200 per tick; beside them, at most one read sent at once to
    # confirm rows just read (when the key's budget has room) per output read, most often fewer
    assert reports_calls <= ticks + 2 + successes
    assert reports_calls < 200
    assert not [r for r in axiom_emulator.requests() if r["status"] == 429]
    assert len(axiom_emulator.requests("run-data")) == successes  # output once per success


class HeldInterval:
    """Emulated time in which a poll interval never elapses: a sleep of 2 s or more waits forever, shorter
    ones (the limiter's spacing) move the emulator's clock. So a second tick can only be an early one."""

    def __init__(self, emulated: EmulatedTime) -> None:
        self.emulated = emulated
        self.held: list[float] = []

    def hook(self) -> AxiomHook:
        async def asleep(seconds: float) -> None:
            if seconds >= 2.0:
                self.held.append(seconds)
                await asyncio.Event().wait()
            self.emulated.sleep(seconds)
            await asyncio.sleep(0)

        base = self.emulated.as_clock()
        return AxiomHook(clock=replace(base, asleep=asleep))


def wait_by_name(names: list[str], emulated: EmulatedTime) -> tuple[list[dict[str, Any]], list[str]]:
    """Trigger ``names``, let every run end, then wait for them all in one poller that cannot tick at the
    interval; the events, and the endpoints the wait called, in order."""
    results = [emulated.hook().trigger_automation(name) for name in names]
    emulated.sleep(300)  # every run has ended and its window is final
    held = HeldInterval(emulated)
    hook = held.hook()
    deadline = emulated.now.add(hours=1)
    before = len(emulated.emulator.requests())

    async def main() -> list[dict[str, Any]]:
        await poller_for(hook)  # the connection resolved first: every wait then joins before the first tick
        waits = (  # by name and start time: their rows need a confirming read
            wait_for_run(hook, replace(RunRef.from_trigger(r), run_id=None), deadline=deadline) for r in results
        )
        return await asyncio.wait_for(asyncio.gather(*waits), timeout=30)  # real seconds: no early tick hangs

    events = asyncio.run(main())
    assert held.held  # the poller did wait for its interval, which never came
    return events, [r["endpoint"] for r in emulated.emulator.requests()[before:]]


@pytest.mark.axiom_scenario(scale_scenario(8))
def test_rows_just_read_are_confirmed_by_an_early_tick_when_the_budget_has_room(axiom_emulator):
    events, calls = wait_by_name(["Job 1", "Job 2"], EmulatedTime(axiom_emulator))
    assert [e["summary"]["data"] for e in events] == [{"out": [["row 1"]]}, {"out": [["row 2"]]}]
    # the tick that saw both runs end, their reads, then one tick at once (no interval) that confirmed both
    assert calls == ["run-reports", "run-data", "run-data", "run-reports"], calls


@pytest.mark.axiom_scenario(scale_scenario(8))
def test_the_early_tick_waits_for_every_read_due_before_it(axiom_emulator):
    """Reads go first: six rows reads (more than go in flight at once) before the tick that confirms them."""
    names = [f"Job {i}" for i in range(1, 7)]
    events, calls = wait_by_name(names, EmulatedTime(axiom_emulator))
    assert [e["summary"]["data"] for e in events] == [{"out": [[f"row {i}"]]} for i in range(1, 7)]
    assert calls == ["run-reports", *["run-data"] * 6, "run-reports"], calls


def test_a_pinned_run_pushed_beyond_the_widest_report_window_still_resolves(axiom_emulator, monkeypatch):
    """Our run is found, then 510 newer runs of another automation push it out of every read."""
    from airflow_provider_axiom import _matching, _report_window
    from airflow_provider_axiom._completion import poller

    for module in (poller, _report_window, _matching):  # the widest read, smaller to keep this quick
        monkeypatch.setattr(module, "MAX_REPORT_WINDOW", 500)
    axiom_emulator.load_scenario(
        {
            **SCENARIO,
            "rate_limit_per_minute": None,
            "plan": {"concurrency": 1000},
            "automations": [*SCENARIO["automations"], {"name": "Busy", "duration": 1, "allow_cloud_concurrency": True}],
        }
    )
    emulated = EmulatedTime(axiom_emulator)
    ours = emulated.hook().trigger_automation("Export leads")
    trigger = trigger_for(ours, emulated)
    flooded: list[int] = []

    def flood(_seconds: float) -> None:  # once the run is pinned (its window closed), another client gets busy
        if not flooded and emulated.now > ours.triggered_at.add(seconds=20):
            body = {"key": "lifecycle-key", "name": "Busy"}
            with httpx.Client(base_url=axiom_emulator.base_url) as client:
                for _ in range(510):  # more newer runs than the widest window (500) holds
                    assert client.post("/trigger", json=body).status_code == 200
            flooded.append(510)

    emulated.as_clock()
    emulated.after_sleep = flood
    event = asyncio.run(first_event(trigger))
    assert flooded
    assert event["status"] == "success" and event["summary"]["data"] == {"google-sheet-data": NEW_ROWS}
    reads = [r["body"].get("count") for r in axiom_emulator.requests("run-reports")]
    assert max(c for c in reads if c) == 500  # widened to the widest read, then /run-data of the name
    # the run was looked up through /run-data of its name, one look per tick until it ended (40 s), and
    # its output came with the last look (no extra read)
    looks = [r["body"]["name"] for r in axiom_emulator.requests("run-data")]
    assert set(looks) == {"Export leads"} and len(looks) <= 40 / 5 + 2


def test_a_deadline_is_kept_while_the_limiter_queue_is_long(axiom_emulator, monkeypatch):
    """Real time here: the key allows 1 call a minute, so the next poll is over a minute away."""
    conn = json.loads(axiom_emulator.connection_json())
    conn["extra"] = {"rate_limit_per_minute": 1}
    axiom_emulator.load_scenario({**SCENARIO, "api_key": "slow-key"})
    conn["password"] = "slow-key"
    monkeypatch.setenv("AIRFLOW_CONN_AXIOM_SLOW", json.dumps(conn))
    hook = AxiomHook("axiom_slow")
    result = hook.trigger_automation("Long crawl")  # takes the key's only slot this minute
    trigger = AxiomRunTrigger(
        run=RunRef("Long crawl", result.sent_at.subtract(seconds=2)),
        deadline=pendulum.now("UTC").add(seconds=1),
        axiom_conn_id="axiom_slow",
    )
    event = asyncio.run(asyncio.wait_for(first_event(trigger), timeout=15))  # not a minute later
    assert event["status"] == "timeout"


def test_a_429_burst_from_another_client_is_absorbed(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    ours = emulated.hook().trigger_automation("Export leads")
    axiom_emulator.set_faults("run-reports", sequence=[{"status": 429}] * 6 + ["ok"])
    event = asyncio.run(first_event(trigger_for(ours, emulated)))
    assert event["status"] == "success"


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_burst_of_transient_answers_right_after_the_trigger_is_tolerated(axiom_emulator, deferrable):
    """The first look at the run is tolerated like every other (max_retries 2 in the connection)."""
    conn = json.loads(axiom_emulator.connection_json())
    conn["extra"] = {"max_retries": 2}
    import os

    os.environ["AIRFLOW_CONN_AXIOM_DEFAULT"] = json.dumps(conn)
    axiom_emulator.set_faults("run-reports", sequence=[{"status": 503}, {"status": 429}, "html", {"status": 503}])
    emulated = EmulatedTime(axiom_emulator)
    op = operator(emulated, automation_name="Export leads", deferrable=deferrable)
    ctx = {"ti": FakeTI()}
    if deferrable:
        trigger = defer(op, ctx)
        trigger.hook = emulated.hook()
        result = op.execute_complete(ctx, asyncio.run(first_event(trigger)))
    else:
        result = op.execute(ctx)
    assert result["data"] == {"google-sheet-data": NEW_ROWS}
    assert len(axiom_emulator.started_runs("Export leads")) == 1


def test_a_retry_returns_the_result_of_a_run_that_succeeded_before_the_attempt_crashed(axiom_emulator, caplog, capsys):
    emulated = EmulatedTime(axiom_emulator)
    store = FakeTaskStateStore()

    def crash_once_it_succeeded(seconds: float) -> None:
        runs = axiom_emulator.started_runs("Export leads")  # none yet while the trigger is paced
        if runs and runs[0]["status"] == "Success":
            raise SystemExit("worker lost while reading the output")

    emulated.as_clock()
    emulated.after_sleep = crash_once_it_succeeded
    with pytest.raises(SystemExit):
        operator(emulated, automation_name="Export leads", deferrable=False).execute(
            {"ti": FakeTI(), "task_state_store": store}
        )
    emulated.after_sleep = None
    assert "axiom_run" in store.data
    caplog.set_level(logging.INFO)
    capsys.readouterr()
    retry = operator(emulated, automation_name="Export leads", deferrable=False)
    result = retry.execute({"ti": FakeTI(), "task_state_store": store})
    assert result["data"] == {"google-sheet-data": NEW_ROWS}
    assert len(axiom_emulator.requests("trigger")) == 1  # no second, billed run
    assert store.data == {}
    # The task logger writes through logging, structlog or (Airflow 3.0) both: count in each channel.
    channels = (caplog.text, capsys.readouterr().out)
    text = "".join(channels)
    assert max(c.count("already succeeded; returning its result") for c in channels) == 1
    assert "re-attached" not in text  # one thing said: nothing was re-attached to


def test_a_missing_connection_fails_at_once_naming_it(axiom_emulator):
    op = operator(EmulatedTime(axiom_emulator), automation_name="Export leads", axiom_conn_id="no_such_conn")
    op.hook = AxiomHook("no_such_conn")
    with pytest.raises(AxiomConfigError, match="no_such_conn") as exc:
        op.execute({"ti": FakeTI()})
    assert isinstance(exc.value, AirflowFailException) and "airflow connections add" in str(exc.value)
    trigger = AxiomRunTrigger(
        run=RunRef("Export leads", pendulum.now("UTC")),
        deadline=pendulum.now("UTC").add(hours=1),
        axiom_conn_id="no_such_conn",
    )
    event = asyncio.run(first_event(trigger))
    with pytest.raises(AxiomConfigError, match="no_such_conn"):
        op.execute_complete({}, event)


def test_an_unreachable_host_names_the_url_it_tried(monkeypatch):
    conn = {
        "conn_type": "axiom",
        "password": "k-unreachable",
        "host": "http://127.0.0.1:9/api/v3",
        "extra": {"max_retries": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DOWN", json.dumps(conn))
    with pytest.raises(AxiomConnectionError) as exc:
        AxiomHook("axiom_down").list_automations()
    assert "http://127.0.0.1:9/api/v3" in str(exc.value) and "k-unreachable" not in str(exc.value)


def test_log_lines_say_what_happened(axiom_emulator, caplog, capsys):
    emulated = EmulatedTime(axiom_emulator)
    store = FakeTaskStateStore()
    first = operator(emulated, automation_name="Long crawl", deferrable=True)
    defer(first, {"ti": FakeTI(), "task_state_store": store})
    caplog.set_level(logging.INFO)
    caplog.clear()
    capsys.readouterr()  # only what the retry logs counts below
    retry = operator(emulated, automation_name="Long crawl", deferrable=True)
    defer(retry, {"ti": FakeTI(), "task_state_store": store})
    text = caplog.text + capsys.readouterr().out  # the task logger may write through structlog
    assert "re-attached to the run of 'Long crawl'" in text
    assert "started 'Long crawl'" not in text


@pytest.mark.parametrize("delay", [0.3, 1.0, 2.5])
def test_a_lost_trigger_answer_with_late_registration_never_starts_a_second_run(axiom_emulator, delay):
    axiom_emulator.load_scenario({**SCENARIO, "registration_delay": delay})
    for attempt in range(5):
        axiom_emulator.set_faults("trigger", sequence=[{"lost_response": 502}])
        emulated = EmulatedTime(axiom_emulator)
        result = emulated.hook().trigger_automation("Scrape product prices")
        assert result.recovered
        assert len(axiom_emulator.started_runs("Scrape product prices")) == attempt + 1  # one run per trigger
        axiom_emulator.advance(60)


def test_a_retry_resumed_with_an_earlier_trys_event_starts_over(axiom_emulator):
    """Airflow 3.0 resumes a deferred task's retry at execute_complete with the failed try's event."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    emulated = EmulatedTime(axiom_emulator)
    first_ti, retry_ti = FakeTI(), FakeTI()
    first_ti.try_number, retry_ti.try_number = 1, 2  # type: ignore[attr-defined]
    op = operator(emulated, automation_name="Broken checkout flow", deferrable=True)
    trigger = defer(op, {"ti": first_ti})
    assert trigger.run_ref.attempt == 1
    trigger.hook = emulated.hook()
    failed = asyncio.run(first_event(trigger))
    assert failed["status"] == "failure" and failed["run"]["attempt"] == 1
    retry = operator(emulated, automation_name="Broken checkout flow", deferrable=True)
    with pytest.raises(TaskDeferred):  # the retry triggers a new run and defers, instead of failing again
        retry.execute_complete({"ti": retry_ti}, failed)
    assert len(axiom_emulator.started_runs("Broken checkout flow")) == 2


def test_output_reads_go_in_the_order_the_runs_were_seen_to_end():
    """Reads queue behind the key's budget when many runs end together: first come, first served, so no
    run's rows wait behind runs that ended after it (before, the first waiter added always went first);
    a read put off to a later tick waits for that tick, and a retry keeps its place."""
    from airflow_provider_axiom._completion.reads import Read, ReadQueue
    from airflow_provider_axiom._completion.waiter import Waiter

    async def never(_read: Read) -> None:
        raise AssertionError("not run here")

    since = pendulum.datetime(2026, 1, 1, tz="UTC")
    queue = ReadQueue(never)
    waiters = [Waiter(RunRef(f"Job {i}", since), since.add(hours=1)) for i in range(4)]  # added 0, 1, 2, 3
    reads = {i: Read("rows", waiter=waiters[i]) for i in (3, 1, 2)}  # the order their runs were seen to end
    for read in reads.values():
        queue.put(read)
    first = queue.next()
    assert first is reads[3]
    queue.put(first, after_tick=1, again=True)  # it failed: again on the next tick, in its place
    assert [queue.next(), queue.next(), queue.next()] == [reads[1], reads[2], None]
    queue.tick = 1
    assert queue.next() is reads[3]
