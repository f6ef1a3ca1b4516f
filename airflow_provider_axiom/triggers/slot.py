"""``AxiomSlotTrigger``: holds a trigger in the triggerer until axiom.ai would start its run at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

from airflow_provider_axiom._compat import BaseTrigger, TriggerEvent, resume_guarded
from airflow_provider_axiom._completion.slots import teller, wait_for_slot
from airflow_provider_axiom._protocol import iso, to_datetime
from airflow_provider_axiom.hooks.axiom import AxiomHook


class AxiomSlotTrigger(BaseTrigger):
    """Wait in the triggerer until a ``/trigger`` of ``automation_name`` would start at once.

    It listens to the key's shared poller (no call of its own) and yields one event,
    ``{"slot": "free" | "held_too_long" | "timeout", "held_since": ..., "deadline": ...}``; the
    operator then sends the trigger (or, on ``timeout``, fails without starting anything). It has
    no side effect of its own, so a triggerer restart or move simply starts it again. See
    :mod:`airflow_provider_axiom._completion.slots` for the rule.

    :param automation_name: the automation to start.
    :param held_since: when the trigger was first held (ISO 8601, UTC).
    :param hold_until: when to give up holding and send anyway (ISO 8601, UTC).
    :param deadline: the task's waiting deadline (ISO 8601, UTC).
    :param axiom_conn_id: the connection id (the key itself is never serialised).
    :param cloud_concurrency: the automation allows several cloud runs at once.
    :param poll_interval: the shared poller's tick (seconds).
    :param deferred_at: when the task deferred (ISO 8601, UTC); the event comes no sooner than
        ``RESUME_GUARD`` (15 s) after it, which keeps Airflow from failing a task that resumes
        too quickly after deferring (apache/airflow#71580). Absent in triggers of 0.2: no guard.
    :param deferred_in: the process that deferred (host and pid); a trigger run there (``airflow dags
        test``) keeps no guard.
    """

    def __init__(
        self,
        *,
        automation_name: str,
        held_since: Any,
        hold_until: Any,
        deadline: Any,
        axiom_conn_id: str = AxiomHook.default_conn_name,
        cloud_concurrency: bool = False,
        poll_interval: float = 5.0,
        deferred_at: Any = None,
        deferred_in: str | None = None,
    ) -> None:
        super().__init__()
        self.automation_name = automation_name
        self.held_since = to_datetime(held_since, "held_since")
        self.hold_until = to_datetime(hold_until, "hold_until")
        self.deadline = to_datetime(deadline, "deadline")
        self.axiom_conn_id = axiom_conn_id
        self.cloud_concurrency = bool(cloud_concurrency)
        self.poll_interval = float(poll_interval)
        self.deferred_at = None if deferred_at is None else to_datetime(deferred_at, "deferred_at")
        self.deferred_in = deferred_in

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "automation_name": self.automation_name,
                "held_since": iso(self.held_since),
                "hold_until": iso(self.hold_until),
                "deadline": iso(self.deadline),
                "axiom_conn_id": self.axiom_conn_id,
                "cloud_concurrency": self.cloud_concurrency,
                "poll_interval": self.poll_interval,
                "deferred_at": None if self.deferred_at is None else iso(self.deferred_at),
                "deferred_in": self.deferred_in,
            },
        )

    @cached_property
    def hook(self) -> AxiomHook:
        return AxiomHook(self.axiom_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        say = teller(
            self.log,
            self.axiom_conn_id,
            self.automation_name,
            held_since=self.held_since,
            hold_until=self.hold_until,
            now=self.hook.clock.now,
        )
        try:
            outcome, _ = await wait_for_slot(
                self.hook,
                self.automation_name,
                cloud_concurrency=self.cloud_concurrency,
                poll_interval=self.poll_interval,
                hold_until=self.hold_until,
                deadline=self.deadline,
                say=say,
                not_before=resume_guarded(self.deferred_at, self.deferred_in),
            )
        finally:
            await self.hook.aclose()
        yield TriggerEvent({"slot": outcome, "held_since": iso(self.held_since), "deadline": iso(self.deadline)})
