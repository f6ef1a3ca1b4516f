"""``AxiomRunFinishedTrigger`` (asset watchers): serialisation, the dedup rule, payloads, restarts and cost.

Time is injected (``EmulatedTime``): the shared poller's sleeps move the emulator's clock, so
minutes of watching take a fraction of a second, and runs are started "from outside Airflow"
through ``AxiomEmulator.start_run`` at chosen emulated times.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pendulum
import pytest

from airflow_provider_axiom._completion import watch as watch_module
from airflow_provider_axiom._completion.watch import WATERMARK_LAG, WatchState, run_key
from airflow_provider_axiom._run_ref import RunRef
from airflow_provider_axiom._transport import Clock
from airflow_provider_axiom.exceptions import AxiomAuthError, AxiomNotFoundError
from airflow_provider_axiom.hooks.axiom import AxiomHook
from airflow_provider_axiom.results import RunReport
from airflow_provider_axiom.triggers.axiom import AxiomRunTrigger
from airflow_provider_axiom.triggers.watch import AxiomRunFinishedTrigger
from tests.polling import wait_for_async
from tests.scenarios import scenario
from tests.task_kit import EmulatedTime

ROWS = [["sku", "price"], ["A-1", "9.99"]]
SCENARIO = scenario(
    "watch-key-5f1e",
    [
        {"name": "Scrape product prices", "duration": 20, "output": {"prices": ROWS}},
        {"name": "Export leads", "duration": 30, "allow_cloud_concurrency": True},
        {"name": "Long crawl", "duration": 36000, "allow_cloud_concurrency": True},
    ],
    speed=0,
    concurrency=200,
    # finished before any watcher starts: never fired (no backfill)
    history=[{"name": "Scrape product prices", "status": "Success", "minutes_ago": 1}],
)

pytestmark = pytest.mark.axiom_scenario(SCENARIO)


@pytest.fixture(autouse=True)
def _fresh_memory():
    watch_module._memory.clear()
    yield
    watch_module._memory.clear()


def watcher(emulated: EmulatedTime, **kwargs: Any) -> AxiomRunFinishedTrigger:
    trigger = AxiomRunFinishedTrigger(**{"automation_name": "Scrape product prices", **kwargs})
    trigger.hook = emulated.hook()
    return trigger


class Script:
    """Runs a set of triggers against emulated time, doing ``actions`` at emulated offsets (seconds)."""

    def __init__(self, emulated: EmulatedTime, actions: dict[float, Callable[[], Any]] | None = None) -> None:
        self.time, self.began = emulated, emulated.now
        self.actions = sorted((actions or {}).items())
        emulated.as_clock()
        emulated.after_sleep = self._due

    def elapsed(self) -> float:
        return (self.time.now - self.began).total_seconds()

    def _due(self, _seconds: float) -> None:
        while self.actions and self.actions[0][0] <= self.elapsed():
            self.actions.pop(0)[1]()

    async def run(self, triggers: list[Any], until: float, enough: int | None = None) -> list[list[dict[str, Any]]]:
        """Each trigger's events, once ``until`` emulated seconds have passed (or ``enough`` events came)."""
        events: list[list[dict[str, Any]]] = [[] for _ in triggers]
        errors: list[BaseException] = []

        async def drain(i: int, trigger: Any) -> None:
            try:
                async for event in trigger.run():
                    events[i].append(event.payload)
            except Exception as err:
                errors.append(err)

        tasks = [asyncio.create_task(drain(i, t)) for i, t in enumerate(triggers)]
        for _ in range(2_000_000):
            if self.elapsed() >= until or all(t.done() for t in tasks):
                break
            if enough is not None and sum(map(len, events)) >= enough:
                break
            await asyncio.sleep(0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if errors:
            raise errors[0]
        return events


# ------------------------------------------------------------------ arguments


def test_serialises_every_argument_and_never_the_key():
    trigger = AxiomRunFinishedTrigger(
        automation_name=["Scrape product prices", "Export leads"],
        outcomes=["failure", "success"],
        axiom_conn_id="axiom_prod",
        poll_interval=10,
        read_output=True,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_axiom.triggers.watch.AxiomRunFinishedTrigger"
    assert kwargs == {
        "automation_name": ["Scrape product prices", "Export leads"],
        "outcomes": ["success", "failure"],
        "axiom_conn_id": "axiom_prod",
        "poll_interval": 10.0,
        "read_output": True,
    }
    again = AxiomRunFinishedTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    single = AxiomRunFinishedTrigger(automation_name="Scrape product prices")
    assert single.serialize()[1] == {
        "automation_name": "Scrape product prices",
        "outcomes": ["success"],
        "axiom_conn_id": "axiom_default",
        "poll_interval": 5.0,
        "read_output": False,
    }
    assert "key" not in json.dumps(kwargs).lower().replace("run_key", "")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"automation_name": ""},
        {"automation_name": []},
        {"automation_name": "x", "outcomes": "stopped"},
        {"automation_name": "x", "outcomes": []},
        {"automation_name": "x", "poll_interval": 0},
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs):
    with pytest.raises(ValueError):
        AxiomRunFinishedTrigger(**kwargs)


def test_is_an_event_trigger_usable_in_an_asset_watcher():
    from airflow.sdk import Asset, AssetWatcher

    trigger = AxiomRunFinishedTrigger(automation_name="Scrape product prices")
    asset = Asset("scraped_prices", watchers=[AssetWatcher(name="prices_done", trigger=trigger)])
    assert asset.watchers[0].trigger is trigger


# ------------------------------------------------------------------ the dedup rule (pure, injected time)

T0 = pendulum.datetime(2026, 11, 25, 12, 0, 0, tz="UTC")


def report(name: str, status: str, started: int, ended: int | None = None) -> RunReport:
    start = T0.add(seconds=started)
    return RunReport(name, status, f"{status} run", start, T0.add(seconds=ended) if ended is not None else start)


def test_dedup_fires_each_finished_run_once_and_nothing_from_before_the_start():
    state = WatchState(T0)
    names, outcomes = ["A"], ["success"]
    reads = [
        # (now offset, reports newest first)
        (5, [report("A", "Success", -120, -60), report("B", "Success", 1, 3), report("A", "Running", 2)]),
        (10, [report("A", "Success", 2, 8), report("A", "Success", -120, -60)]),
        (15, [report("A", "Failure", 11, 13), report("A", "Success", 2, 8), report("A", "Success", -120, -60)]),
        (20, [report("A", "Success", 16, 19), report("A", "Failure", 11, 13), report("A", "Success", 2, 8)]),
    ]
    fired = []
    for offset, reports in reads:
        fired.append(
            [
                run_key(r.task_name, r.created_at)
                for r in state.select(reports, names, outcomes, now=T0.add(seconds=offset), complete=True)
            ]
        )
    started = lambda s: run_key("A", T0.add(seconds=s))  # noqa: E731
    assert fired == [[], [started(2)], [], [started(16)]]  # before-start, other names, failures: never
    assert state.open == {}  # the run seen running is no longer open once it ended


def test_dedup_state_stays_small_and_round_trips():
    state = WatchState(T0)
    for i in range(200):
        now = T0.add(seconds=10 * i + 10)
        state.select([report("A", "Success", 10 * i, 10 * i + 5)], ["A"], ["success"], now=now, complete=True)
    assert len(state.fired) <= WATERMARK_LAG.total_seconds() / 10 + 1
    assert state.watermark == T0.add(seconds=2000) - WATERMARK_LAG
    again = WatchState.from_json(state.to_json())
    assert again == state
    # an incomplete read (older runs out of reach) does not move the watermark
    before = state.watermark
    state.select([], ["A"], ["success"], now=T0.add(seconds=9999), complete=False)
    assert state.watermark == before


def test_dedup_failures_fire_only_when_asked():
    reports = [report("A", "Failure", 1, 4), report("A", "Success", 0, 2)]
    only_success = WatchState(T0).select(reports, ["A"], ["success"], now=T0.add(seconds=5), complete=True)
    both = WatchState(T0).select(reports, ["A"], ["success", "failure"], now=T0.add(seconds=5), complete=True)
    assert [r.status for r in only_success] == ["Success"]
    assert [r.status for r in both] == ["Success", "Failure"]  # oldest end first


# ------------------------------------------------------------------ against the emulator


def test_fires_once_per_finished_run_with_its_payload(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    emu = axiom_emulator
    started: list[dict[str, Any]] = []
    # runs far apart (many ticks): each is still the newest of its name when its rows are read
    actions = {
        3: lambda: started.append(emu.start_run("Scrape product prices")),
        100: lambda: started.append(emu.start_run("Scrape product prices", outcome="Failure")),
        200: lambda: started.append(emu.start_run("Scrape product prices", output={"prices": [["other"]]})),
        201: lambda: started.append(emu.start_run("Export leads")),
    }
    plain, with_failures, with_rows = (
        watcher(emulated),
        watcher(emulated, outcomes=["success", "failure"]),
        watcher(emulated, read_output=True),
    )
    events = asyncio.run(Script(emulated, actions).run([plain, with_failures, with_rows], until=300))
    ours = [r for r in started if r["name"] == "Scrape product prices"]
    key = lambda run: run_key(run["name"], pendulum.parse(run["created_at"]))  # noqa: E731
    assert [e["run_key"] for e in events[0]] == [key(ours[0]), key(ours[2])]
    assert [e["run_key"] for e in events[1]] == [key(r) for r in ours]
    assert [e["status"] for e in events[1]] == ["success", "failure", "success"]
    first = events[0][0]
    assert set(first) == {"run_key", "automation_name", "status", "outcome", "started_at", "finished_at", "description"}
    assert first["automation_name"] == "Scrape product prices" and first["outcome"] == "Success"
    assert pendulum.parse(first["finished_at"]) - pendulum.parse(first["started_at"]) == pendulum.duration(seconds=20)
    assert [e["data"] for e in events[2]] == [{"prices": ROWS}, {"prices": [["other"]]}]
    assert [e["data_unavailable"] for e in events[2]] == [None, None]
    assert len(emu.requests("run-data")) == 2  # rows only for the watcher that asked, once per run
    assert "data" not in events[1][0]


def read_output_watcher(
    emulated: EmulatedTime, before_read: Callable[[], Any] | None = None, **kwargs: Any
) -> AxiomRunFinishedTrigger:
    """A ``read_output`` watcher whose every ``/run-data`` call first does ``before_read``.

    The rows are read by the key's poller, through a sibling of the trigger's hook: that one is wrapped."""
    trigger = watcher(emulated, read_output=True, **kwargs)
    hook = trigger.hook
    sibling = hook.sibling

    def wrapped_sibling() -> Any:
        poller_hook = sibling()
        read = poller_hook.aget_run_data

        async def aget_run_data(name: str, *args: Any, **kwargs: Any) -> Any:
            if before_read is not None:
                before_read()
            return await read(name, *args, **kwargs)

        poller_hook.aget_run_data = aget_run_data  # type: ignore[method-assign]
        return poller_hook

    hook.sibling = wrapped_sibling  # type: ignore[method-assign]
    return trigger


def test_rows_are_kept_only_if_a_later_read_still_shows_the_run_newest(axiom_emulator):
    """A newer run of the name starts and succeeds between the newest check and the /run-data answer:
    /run-data then describes it (same outcome, other rows), and only the read after shows it."""
    emulated = EmulatedTime(axiom_emulator)
    emu = axiom_emulator
    started: list[dict[str, Any]] = []

    def newer_run_slips_in() -> None:
        if len(started) == 1:
            started.append(emu.start_run("Scrape product prices", duration=1, output={"prices": [["other"]]}))
            emulated.sleep(2)  # it has ended by the time /run-data answers

    events = asyncio.run(
        Script(emulated, {3: lambda: started.append(emu.start_run("Scrape product prices"))}).run(
            [read_output_watcher(emulated, newer_run_slips_in)], until=120
        )
    )
    key = lambda run: run_key(run["name"], pendulum.parse(run["created_at"]))  # noqa: E731
    assert [e["run_key"] for e in events[0]] == [key(r) for r in started]
    first, second = events[0]
    assert first["data"] is None and first["data_unavailable"] == "superseded"  # never the newer run's rows
    assert second["data"] == {"prices": [["other"]]} and second["data_unavailable"] is None


def test_a_failed_output_read_is_tried_again_at_the_next_tick(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    emu = axiom_emulator
    emu.set_faults("run-data", sequence=[{"status": 503}] * 6 + ["ok"])  # one whole hook call (5 retries)
    events = asyncio.run(
        Script(emulated, {3: lambda: emu.start_run("Scrape product prices")}).run(
            [read_output_watcher(emulated)], until=300
        )
    )
    assert [(e["data"], e["data_unavailable"]) for e in events[0]] == [({"prices": ROWS}, None)]
    assert len(emu.requests("run-data")) == 7


def test_output_that_stays_unreadable_fires_with_the_reason(axiom_emulator, caplog):
    emulated = EmulatedTime(axiom_emulator)
    emu = axiom_emulator
    emu.set_faults("run-data", sequence=[{"status": 503}] * 1000)  # 5 reads of up to ~45 s of backoff each
    events = asyncio.run(
        Script(emulated, {3: lambda: emu.start_run("Scrape product prices")}).run(
            [read_output_watcher(emulated)], until=900, enough=1
        )
    )
    assert [(e["status"], e["data"], e["data_unavailable"]) for e in events[0]] == [("success", None, "unreadable")]
    assert "data_unavailable='unreadable'" in caplog.text


def test_a_failed_run_fires_without_reading_output(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    emu = axiom_emulator
    trigger = read_output_watcher(emulated, outcomes="failure")
    actions = {3: lambda: emu.start_run("Scrape product prices", outcome="Failure")}
    events = asyncio.run(Script(emulated, actions).run([trigger], until=90))
    assert [(e["status"], e["data"], e["data_unavailable"]) for e in events[0]] == [("failure", None, "run_failed")]
    assert emu.requests("run-data") == []


def test_20_watchers_and_100_waiting_runs_share_one_reports_call_per_tick(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    hook = emulated.hook()
    waiting = [hook.trigger_automation("Long crawl") for _ in range(100)]
    triggers: list[Any] = [
        AxiomRunTrigger(
            run=RunRef(r.automation_name, r.sent_at.subtract(seconds=2), viewer_url=r.viewer_url),
            deadline=emulated.now.add(hours=2),
        )
        for r in waiting
    ]
    for t in triggers:
        t.hook = emulated.hook()
    # 20 distinct triggers (Airflow runs one trigger for watchers with identical arguments)
    watchers = [watcher(emulated, poll_interval=5 + i) for i in range(20)]
    before = len(axiom_emulator.requests("run-reports"))
    script = Script(emulated, {30: lambda: axiom_emulator.start_run("Scrape product prices")})
    events = asyncio.run(script.run([*watchers, *triggers], until=120))
    calls = len(axiom_emulator.requests("run-reports")) - before
    ticks = script.elapsed() / 5
    print(f"\n20 watchers + 100 waiting runs, {ticks:.0f} ticks of 5 s: {calls} /run-reports calls")
    assert calls <= ticks + 1
    assert all(len(e) == 1 for e in events[:20])  # every watcher fired the one run
    assert all(not e for e in events[20:])  # the waiting runs are still waiting


class FakeAssetStore:
    """The 3.3 asset state store as a trigger sees it (``aget``/``aset``), kept in a dict."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


@pytest.mark.parametrize("with_store", [True, False], ids=["asset state store (3.3)", "memory only (< 3.3)"])
def test_a_restart_neither_fires_twice_nor_misses_with_the_store(axiom_emulator, with_store):
    emulated = EmulatedTime(axiom_emulator)
    store = FakeAssetStore()

    def fresh() -> AxiomRunFinishedTrigger:
        trigger = watcher(emulated)
        trigger.asset_state_store = store if with_store else None
        return trigger

    emu = axiom_emulator
    first = asyncio.run(Script(emulated, {2: lambda: emu.start_run("Scrape product prices")}).run([fresh()], until=60))
    watch_module._memory.clear()  # the triggerer process died
    emu.start_run("Scrape product prices")  # ends while no triggerer runs
    emulated.sleep(120)
    second = asyncio.run(Script(emulated).run([fresh()], until=60))
    assert len(first[0]) == 1
    fired_again = [e for e in second[0] if e["run_key"] == first[0][0]["run_key"]]
    assert fired_again == []  # never twice
    assert len(second[0]) == (1 if with_store else 0)  # the run that ended while down: only with the store


def test_a_trigger_recreated_in_the_same_process_resumes(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    emu = axiom_emulator
    first = asyncio.run(
        Script(emulated, {2: lambda: emu.start_run("Scrape product prices")}).run([watcher(emulated)], until=60)
    )
    emu.start_run("Scrape product prices")
    emulated.sleep(60)
    second = asyncio.run(Script(emulated).run([watcher(emulated)], until=30))
    assert len(first[0]) == 1 and len(second[0]) == 1 and first[0][0]["run_key"] != second[0][0]["run_key"]


def test_transient_errors_are_absorbed(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    emu = axiom_emulator
    actions = {
        2: lambda: emu.start_run("Scrape product prices"),
        5: lambda: emu.set_faults("run-reports", sequence=[{"status": 502}] * 8 + ["ok"]),
    }
    events = asyncio.run(Script(emulated, actions).run([watcher(emulated)], until=200))
    assert len(events[0]) == 1


def test_an_unknown_automation_ends_the_watcher_naming_the_closest(axiom_emulator, caplog):
    emulated = EmulatedTime(axiom_emulator)
    with pytest.raises(AxiomNotFoundError, match="Did you mean: 'Scrape product prices'"):
        asyncio.run(Script(emulated).run([watcher(emulated, automation_name="scrape product prices")], until=60))
    assert "stopped" in caplog.text


def test_a_bad_key_ends_the_watcher_and_never_reaches_the_log(axiom_emulator, monkeypatch, caplog):
    conn = json.loads(axiom_emulator.connection_json())
    conn["password"] = "sk-wrong-key-0a1b2c3d"
    monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", json.dumps(conn))
    emulated = EmulatedTime(axiom_emulator)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AxiomAuthError) as raised:
        asyncio.run(Script(emulated).run([watcher(emulated)], until=60))
    assert "sk-wrong-key-0a1b2c3d" not in str(raised.value)
    assert "sk-wrong-key-0a1b2c3d" not in caplog.text
    assert "Invalid key" in caplog.text


def test_a_watched_run_pushed_back_by_newer_runs_still_fires(axiom_emulator):
    """More than a read's worth (20) of newer runs start while a watched run runs: the read widens to it."""
    axiom_emulator.add_automation("Busy", duration=1, allow_cloud_concurrency=True)
    emulated = EmulatedTime(axiom_emulator)
    emu = axiom_emulator

    def burst() -> None:
        for _ in range(45):
            emu.start_run("Busy")

    actions = {2: lambda: emu.start_run("Export leads"), 12: burst}
    events = asyncio.run(Script(emulated, actions).run([watcher(emulated, automation_name="Export leads")], until=90))
    assert [e["automation_name"] for e in events[0]] == ["Export leads"]
    counts = [r["body"]["count"] for r in emu.requests("run-reports")]
    assert max(counts) == 100 and counts[-1] < 100  # widened while it ran, narrowed once it ended


@pytest.mark.parametrize(
    ("speed", "host_clock_off_by", "duration"),
    [
        pytest.param(60, timedelta(0), 60, id="emulator-at-speed-60"),
        pytest.param(1, timedelta(minutes=10), 1, id="host-clock-10-min-ahead"),
        pytest.param(1, -timedelta(minutes=10), 1, id="host-clock-10-min-behind"),
    ],
)
def test_the_start_is_the_apis_clock_not_the_hosts(axiom_emulator, speed, host_clock_off_by, duration):
    """Runs that ended before the watcher started never fire, and runs started after it do, however
    far the host's clock is from the API's or however fast the emulator's runs: real time, no injection."""
    emu = axiom_emulator
    emu.set_speed(speed)
    name = "Export leads"  # cloud concurrency on: no run waits in the queue

    async def main() -> list[dict[str, Any]]:
        async def until(condition: Callable[[], bool], what: str) -> None:
            await wait_for_async(what, condition, timeout=60, interval=0.05)

        before = [emu.start_run(name, duration=duration) for _ in range(3)]
        await until(lambda: all(r["status"] == "Success" for r in emu.runs(name) if not r["history"]), "old runs")
        # the API reports whole seconds: "before the start" holds to the second
        ended = max(pendulum.parse(r["finished_at"]) for r in emu.started_runs(name))
        await until(lambda: emu.now() >= ended.add(seconds=1).set(microsecond=0), "the next second of the API")
        trigger = AxiomRunFinishedTrigger(automation_name=name, poll_interval=0.5)
        trigger.hook = AxiomHook(clock=Clock(now=lambda: pendulum.now("UTC") + host_clock_off_by))
        events: list[dict[str, Any]] = []

        async def drain() -> None:
            async for event in trigger.run():
                events.append(event.payload)

        task = asyncio.create_task(drain())
        try:
            await until(lambda: len(emu.requests("run-reports")) >= 2, "the watcher's first reads")
            after = [emu.start_run(name, duration=duration)]
            await until(lambda: len(events) >= 1, "the new run's event")
            after.append(emu.start_run(name, duration=duration))
            await until(lambda: len(events) >= 2, "the second new run's event")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        started = {r["run_id"]: r for r in emu.runs(name)}
        key = lambda run: run_key(name, pendulum.parse(started[run["run_id"]]["created_at"]))  # noqa: E731
        assert not {key(r) for r in before} & {e["run_key"] for e in events}
        assert [e["run_key"] for e in events] == [key(r) for r in after]
        return events

    assert len(asyncio.run(main())) == 2
