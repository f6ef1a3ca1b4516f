"""After an upgrade: what the released 0.2 code serialised still loads, with a DeprecationWarning, and completes.

``fixtures/upgrade_0_2.json`` was written by ``fixtures/make_upgrade_0_2.py`` running the 0.2 code (the
file names the commit): the operator's deferred trigger and its task state, and the sensor's deferred
trigger. A trigger row in Airflow's database outlives a deploy, and so does a task's state. The
fixture's times are moved onto the emulator's clock, so its run is one the emulator started.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_axiom._protocol import viewer_link_masked
from airflow_provider_axiom._run_ref import KEY, RunRef
from airflow_provider_axiom.sensors.axiom import AxiomRunSensor
from tests.task_kit import (
    NEW_ROWS,
    SCENARIO,
    EmulatedTime,
    FakeTaskStateStore,
    FakeTI,
    defer,
    import_string,
    operator,
    run_trigger,
)

pytestmark = pytest.mark.axiom_scenario(SCENARIO)

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "upgrade_0_2.json").read_text())
TIMES = {"not_before", "triggered_at", "sent_at", "deadline"}


def moved(value: Any, delta: Any) -> Any:
    """``value`` with every timestamp it holds moved by ``delta``."""
    if isinstance(value, dict):
        return {k: (moved_time(v, delta) if k in TIMES else moved(v, delta)) for k, v in value.items()}
    if isinstance(value, list):
        return [moved(v, delta) for v in value]
    return value


def moved_time(text: str | None, delta: Any) -> str | None:
    return None if text is None else (pendulum.parse(text) + delta).isoformat()


def started_like_0_2(emulated: EmulatedTime) -> tuple[Any, Any]:
    """Start the run the 0.2 task had started, and the shift that puts the fixture's times on it."""
    started = emulated.hook().trigger_automation("Export leads")
    return started, started.triggered_at - pendulum.parse(FIXTURE["operator"]["trigger"][1]["triggered_at"])


def messages(caught: Any) -> str:
    return " | ".join(str(w.message) for w in caught if issubclass(w.category, DeprecationWarning))


@pytest.mark.parametrize("task", ["operator", "sensor"])
def test_a_trigger_serialised_by_0_2_loads_and_completes(axiom_emulator, task):
    emulated = EmulatedTime(axiom_emulator)
    _, delta = started_like_0_2(emulated)
    classpath, kwargs = moved(FIXTURE[task]["trigger"], delta)
    assert "run" not in kwargs and "not_before" in kwargs and "max_poll_interval" in kwargs  # the 0.2 shape
    with pytest.warns(DeprecationWarning) as caught:
        trigger = import_string(classpath)(**kwargs)
    said = messages(caught)
    assert "AxiomRunTrigger serialised by 0.2" in said and "max_poll_interval is deprecated" in said
    classpath_now, now = trigger.serialize()
    assert classpath_now == classpath and now[KEY]["automation_name"] == "Export leads"
    assert not set(now) & {"not_before", "automation_name", "max_poll_interval"}  # saved again in the new shape
    event = asyncio.run(run_trigger(trigger, emulated))
    assert event["status"] == "success" and event[KEY]["attempt"] == 1
    ti = FakeTI()  # what the task itself recorded restores the link the event shows masked
    if task == "operator":
        waited: Any = operator(emulated, automation_name="Export leads", deferrable=True)
        ti.xcom["viewer_url"] = kwargs["viewer_url"]  # pushed by 0.2 before it deferred
    else:
        waited = AxiomRunSensor(task_id="watch", automation_name="Export leads", viewer_url=kwargs["viewer_url"])
    assert event[KEY]["viewer_url"] == viewer_link_masked(kwargs["viewer_url"])
    result = waited.execute_complete({"ti": ti}, event)
    assert result["status"] == "Success" and result["data"] == {"google-sheet-data": NEW_ROWS}
    assert result["automation_name"] == "Export leads" and result["viewer_url"] == kwargs["viewer_url"]
    assert len(axiom_emulator.started_runs("Export leads")) == 1


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_task_state_saved_by_0_2_is_resumed_by_the_retry(axiom_emulator, deferrable):
    emulated = EmulatedTime(axiom_emulator)
    _, delta = started_like_0_2(emulated)
    store = FakeTaskStateStore()
    store.data = moved(FIXTURE["operator"]["task_state"], delta)
    assert "sent_at" in store.data["axiom_run"]  # the 0.2 shape: /trigger's answer
    retry = operator(emulated, automation_name="Export leads", deferrable=deferrable)
    ctx = {"ti": FakeTI(), "task_state_store": store}
    with pytest.warns(DeprecationWarning, match="task state saved by 0.2"):
        if deferrable:
            trigger = defer(retry, ctx)
            assert store.data["axiom_run"] == {KEY: trigger.serialize()[1][KEY]}  # saved again in the one shape
            result = retry.execute_complete(ctx, asyncio.run(run_trigger(trigger, emulated)))
        else:
            result = retry.execute(ctx)
    assert result["status"] == "Success" and result["data"] == {"google-sheet-data": NEW_ROWS}
    assert len(axiom_emulator.started_runs("Export leads")) == 1  # re-attached, not triggered again
    assert len(axiom_emulator.requests("trigger")) == 1
    assert store.data == {}  # the run ended


def test_the_run_s_identity_is_one_value_from_the_trigger_s_answer_to_the_event(axiom_emulator):
    """Built once from /trigger's answer: the task state, the trigger's arguments and the event carry it under
    one key (the event's copy pinned to the run's creation time once matched)."""
    emulated = EmulatedTime(axiom_emulator)
    store = FakeTaskStateStore()
    op = operator(emulated, automation_name="Export leads", deferrable=True)
    ctx = {"ti": FakeTI(), "task_state_store": store}
    trigger = defer(op, ctx)
    kwargs = trigger.serialize()[1]
    assert store.data["axiom_run"] == {KEY: kwargs[KEY]}
    assert "max_poll_interval" not in kwargs
    event = asyncio.run(run_trigger(trigger, emulated))
    ref = RunRef.from_dict(event[KEY])
    assert ref.created_at is not None
    link = kwargs[KEY]["viewer_url"]  # the event shows its password masked; the task restores it
    assert {**event[KEY], "created_at": None} == {**kwargs[KEY], "viewer_url": viewer_link_masked(link)}
    result = op.execute_complete(ctx, event)
    assert result["data"] == {"google-sheet-data": NEW_ROWS} and result["viewer_url"] == link


def test_max_poll_interval_is_accepted_with_a_deprecation_warning_and_unused():
    from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator
    from airflow_provider_axiom.triggers.axiom import AxiomRunTrigger

    with pytest.warns(DeprecationWarning, match="max_poll_interval is deprecated"):
        op = AxiomTriggerAutomationOperator(task_id="t", automation_name="Export leads", max_poll_interval=60)
    assert not hasattr(op, "max_poll_interval")
    run = RunRef("Export leads", pendulum.datetime(2026, 1, 1, tz="UTC"))
    with pytest.warns(DeprecationWarning, match="max_poll_interval is deprecated"):
        trigger = AxiomRunTrigger(run=run, deadline=run.not_before.add(hours=1), max_poll_interval=60)
    assert "max_poll_interval" not in trigger.serialize()[1]
