"""What the operator, sensor and trigger tests share: the scenario, emulated time, a fake task instance.

Time is injected (``EmulatedTime``): every wait moves the emulator's clock, so minutes of waiting
take milliseconds. ``defer`` runs an operator up to its deferral and rebuilds the trigger the way
the triggerer does.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pendulum
import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_axiom._transport import Clock
from airflow_provider_axiom.hooks.axiom import AxiomHook
from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator
from airflow_provider_axiom.triggers.axiom import AxiomRunTrigger
from tests.scenarios import scenario

NEW_ROWS = [["name", "email"], ["Ada", "ada@example.com"]]
OLD_ROWS = [["name", "email"], ["Old", "old@example.com"]]

SCENARIO = scenario(
    "lifecycle-key",
    [
        {"name": "Export leads", "duration": 40, "output": {"google-sheet-data": NEW_ROWS}},
        {"name": "Scrape product prices", "duration": 20, "echo_input": True},
        {
            "name": "Broken checkout flow",
            "duration": 15,
            "outcome": "Failure",
            "failure_message": "Error: No element found for selector: #checkout-button",
        },
        {"name": "Long crawl", "duration": 36000},
    ],
    rate_limit_per_minute=100,  # the API's limit (the emulator's default)
    concurrency=1,  # one slot: "Long crawl" queues whatever comes after it
    # the latest run of "Export leads" before the test: a Success with other rows
    history=[
        {"name": "Export leads", "status": "Success", "minutes_ago": 30, "output": {"google-sheet-data": OLD_ROWS}}
    ],
)


class FakeTI:
    task_id, map_index = "axiom", -1

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}
        self.pulls: list[dict[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value", *, map_indexes: Any = None) -> Any:
        """This task instance's own XCom (the only one these tests push)."""
        self.pulls.append({"task_ids": task_ids, "key": key, "map_indexes": map_indexes})
        return self.xcom.get(key) if (task_ids, map_indexes) == (self.task_id, self.map_index) else None


def record_masks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every secret registered with Airflow's masker from here on, in order (it is still registered)."""
    try:
        from airflow.sdk._shared.secrets_masker import secrets_masker  # Airflow 3.2+
    except ImportError:
        from airflow.sdk.execution_time import secrets_masker  # type: ignore[no-redef,attr-defined,unused-ignore]

    registered: list[str] = []
    original = secrets_masker.SecretsMasker.add_mask

    def add_mask(self: Any, secret: Any, name: str | None = None) -> None:
        if isinstance(secret, str):
            registered.append(secret)
        original(self, secret, name)

    monkeypatch.setattr(secrets_masker.SecretsMasker, "add_mask", add_mask)
    return registered


class EmulatedTime:
    """Sleeps move the emulator's clock and a local clock together; nothing really waits."""

    def __init__(self, emulator) -> None:
        self.emulator = emulator
        self.now = pendulum.now("UTC")
        self.sleeps: list[float] = []

    def clock(self):
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        # round, not int(): 15 s computed as 14.999999... s would otherwise sleep a microsecond short
        self.now = self.now.add(microseconds=round(seconds * 1e6))
        self.emulator.advance(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)

    def monotonic(self) -> float:
        return float(self.now.timestamp())

    def as_clock(self) -> Clock:
        """The provider's one time seam: every wait moves emulated time, and calls ``after_sleep``."""
        if not hasattr(self, "_clock"):
            self.after_sleep: Any = None

            def sleep(seconds: float) -> None:
                self.sleep(seconds)
                if self.after_sleep:
                    self.after_sleep(seconds)

            async def asleep(seconds: float) -> None:
                sleep(seconds)
                await asyncio.sleep(0)

            self._clock = Clock(now=self.clock, monotonic=self.monotonic, sleep=sleep, asleep=asleep)
        return self._clock

    def hook(self, conn_id: str = "axiom_default") -> AxiomHook:
        return AxiomHook(conn_id, clock=self.as_clock())


def operator(emulated: EmulatedTime, **kwargs) -> AxiomTriggerAutomationOperator:
    op = AxiomTriggerAutomationOperator(task_id="axiom", **kwargs)
    op.hook = emulated.hook(op.axiom_conn_id)
    return op


def context() -> dict[str, Any]:
    return {"ti": FakeTI()}


async def run_trigger(trigger: AxiomRunTrigger, emulated: EmulatedTime) -> dict[str, Any]:
    trigger.hook = emulated.hook(trigger.axiom_conn_id)
    events = [e.payload async for e in trigger.run()]
    assert len(events) == 1  # exactly one event, then the generator returns
    return events[0]


def import_string(path: str):
    import importlib

    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def assert_worker_can_send(deferred: TaskDeferred) -> None:
    """Encode the deferral exactly as a real worker does before sending it to its supervisor.

    ``airflow dags test`` skips this step; a pendulum Duration as ``timeout`` once broke it.
    """
    import structlog
    from airflow.sdk.execution_time.comms import _RequestFrame
    from airflow.sdk.execution_time.task_runner import _defer_task

    class TI:
        dag_id, task_id, run_id = "d", "t", "r"

    msg, _ = _defer_task(deferred, TI(), structlog.get_logger())
    assert _RequestFrame(id=1, body=msg.model_dump()).as_bytes()
    assert type(deferred.timeout) is timedelta


def defer(op, ctx) -> AxiomRunTrigger:
    with pytest.raises(TaskDeferred) as exc:
        op.execute(ctx)
    assert exc.value.method_name == "execute_complete"
    assert_worker_can_send(exc.value)
    trigger = exc.value.trigger
    classpath, kwargs = trigger.serialize()
    rebuilt = import_string(classpath)(**kwargs)  # round trip, as the triggerer does
    assert rebuilt.serialize() == (classpath, kwargs)
    assert "lifecycle-key" not in repr(kwargs)
    return rebuilt


class FakeTaskStateStore:
    """What Airflow >= 3.3 puts in the context as ``task_state_store``; it survives task retries."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key, default=None):
        return self.data.get(key, default)

    def set(self, key, value, *, retention=None):
        json_roundtrip = json.loads(json.dumps(value))
        self.data[key] = json_roundtrip

    def delete(self, key):
        self.data.pop(key, None)
