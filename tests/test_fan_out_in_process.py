"""Fan-out over one automation, in process, with injected time: the operator and the shared poller together.

Tasks send their own id as input and the emulator echoes it back, so rows prove whose run a task got.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_axiom._transport import Clock
from tests.scenarios import scenario
from tests.task_kit import EmulatedTime, FakeTI, defer, operator

NAME = "Scrape product prices"
SCENARIO = scenario(
    "lifecycle-key",
    [{"name": NAME, "duration": 20, "echo_input": True, "allow_cloud_concurrency": True}],
    rate_limit_per_minute=100,  # the API's limit (the emulator's default)
    concurrency=10,
)

pytestmark = pytest.mark.axiom_scenario(SCENARIO)


def rows(task: str) -> list[list[str]]:
    return [["task"], [task]]


def own_process(emulated: EmulatedTime, op: Any) -> Any:
    """Give ``op`` a clock of its own, as if it ran in its own worker process (no spacing shared with the others)."""
    base = emulated.as_clock()
    op.hook = type(op.hook)(op.axiom_conn_id, clock=Clock(lambda: base.now(), base.monotonic, base.sleep, base.asleep))
    return op


def in_one_triggerer(triggers: list[Any], emulated: EmulatedTime) -> list[dict[str, Any]]:
    """Run the triggers in one event loop, as one triggerer holds them (one shared poller)."""
    for trigger in triggers:
        trigger.hook = emulated.hook(trigger.axiom_conn_id)

    async def first(trigger: Any) -> dict[str, Any]:
        events = [e.payload async for e in trigger.run()]
        assert len(events) == 1
        return events[0]

    async def main() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(first(t) for t in triggers)))

    return asyncio.run(main())


def test_two_tasks_of_one_process_two_seconds_apart_get_their_own_runs_and_rows(axiom_emulator):
    """The issue's smallest case: before, the second task took the first one's run as its own."""
    emulated = EmulatedTime(axiom_emulator)
    ops = [
        operator(emulated, automation_name=NAME, data=rows(f"task-{i}"), deferrable=True, cloud_concurrency=True)
        for i in range(2)
    ]
    first = defer(ops[0], {"ti": FakeTI()})
    emulated.sleep(2)
    second = defer(ops[1], {"ti": FakeTI()})  # this process spaces same-name triggers: it waited its turn
    events = in_one_triggerer([first, second], emulated)
    results = [op.execute_complete({"ti": FakeTI()}, event) for op, event in zip(ops, events, strict=True)]
    runs = {r["input_data"][1][0]: r for r in axiom_emulator.runs(NAME)}
    for i, result in enumerate(results):
        assert result["identity"] == "matched"
        assert result["started_at"][:19] == runs[f"task-{i}"]["created_at"][:19]  # its own run's times
    # the API shows only the newest run's output: the first run's rows were superseded by the second's
    assert results[0]["data"] is None and results[0]["data_unavailable"] == "superseded"
    assert results[1]["data"]["google-sheet-data"] == rows("task-1")


def three_processes_a_second_apart(emulator: Any) -> list[dict[str, Any]]:
    """Three tasks, each in its own worker process, trigger one automation a second apart; one triggerer waits."""
    emulated = EmulatedTime(emulator)
    ops = [
        own_process(
            emulated,
            operator(emulated, automation_name=NAME, data=rows(f"task-{i}"), deferrable=True, cloud_concurrency=True),
        )
        for i in range(3)
    ]
    triggers = []
    for op in ops:
        triggers.append(defer(op, {"ti": FakeTI()}))
        emulated.sleep(1)
    events = in_one_triggerer(triggers, emulated)
    return [op.execute_complete({"ti": FakeTI()}, event) for op, event in zip(ops, events, strict=True)]


def test_tasks_of_different_processes_one_second_apart_say_ambiguous_never_anothers_rows(axiom_emulator):
    results = three_processes_a_second_apart(axiom_emulator)
    assert sum(r["identity"] == "ambiguous" for r in results) >= 2  # a second apart: the windows overlap
    for i, result in enumerate(results):
        assert result["data"] is None or result["data"]["google-sheet-data"] == rows(f"task-{i}")
        if result["identity"] == "ambiguous":
            assert result["data_unavailable"] == "ambiguous_run" and result["started_at"] is None
            assert len(result["candidates"]) >= 2 and result["status"] == "Success"
    assert len(axiom_emulator.runs(NAME)) == 3


@pytest.mark.axiom_scenario({**SCENARIO, "run_id_mode": True})
def test_with_run_ids_every_task_gets_its_own_rows_even_one_second_apart(axiom_emulator):
    for i, result in enumerate(three_processes_a_second_apart(axiom_emulator)):
        assert result["identity"] == "run_id" and result["data"]["google-sheet-data"] == rows(f"task-{i}")
    # status by id is read only when a run of the automation ends, not per run per tick
    assert len(axiom_emulator.requests("run-data")) <= 3 * 3
