"""``AxiomRunTrigger``: waits in the triggerer for an axiom.ai run to finish."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

from pendulum import DateTime

from airflow_provider_axiom._compat import BaseTrigger, TriggerEvent
from airflow_provider_axiom._completion import EVENT_STATUSES, astop_remote_run, wait_for_run
from airflow_provider_axiom._protocol import iso, to_datetime
from airflow_provider_axiom._runs import RunRef
from airflow_provider_axiom.hooks.axiom import AxiomHook, stopping_hook

__all__ = ["EVENT_STATUSES", "AxiomRunTrigger"]

log = logging.getLogger(__name__)


class AxiomRunTrigger(BaseTrigger):
    """Wait until the run identified by ``automation_name`` and ``not_before`` ends.

    All triggers of one key in a triggerer share one poller: one ``/run-reports`` call per tick
    for all of them. Yields exactly one event and returns: ``{"status": "success" | "failure" |
    "timeout" | "error", "message": ..., "summary": {...}}``. Transient API errors are absorbed
    until ``max_consecutive_errors`` ticks in a row have failed. It never stops the run itself,
    except in :meth:`on_kill`, which Airflow 3.3+ calls only when a user marks the task failed,
    succeeded or cleared (not on a triggerer restart; older triggerers never call it).

    :param automation_name: the automation's exact name.
    :param not_before: the run's ``created_at`` is at or after this (ISO 8601, server time).
    :param deadline: absolute UTC time (ISO 8601) at which a ``timeout`` event is yielded.
    :param axiom_conn_id: the connection id (the key itself is never serialised).
    :param triggered_at: when the run was triggered, reported back in the result.
    :param run_id: the API's run id, when it returned one.
    :param viewer_url: the run's viewer link, used to stop it on kill.
    :param poll_interval: the shared poller's tick (seconds, default 5): how often run reports are read.
    :param max_poll_interval: kept for compatibility; the tick no longer grows with time, and slows
        down only when the key's rate limit is reached.
    :param max_consecutive_errors: transient failures in a row tolerated before an ``error`` event.
    :param attempt: the task's try number when it deferred, echoed in the event (Airflow 3.0 resumes a
        retry at ``execute_complete`` with the previous try's event; this tells the two apart).
    """

    def __init__(
        self,
        *,
        automation_name: str,
        not_before: str | DateTime,
        deadline: str | DateTime,
        axiom_conn_id: str = AxiomHook.default_conn_name,
        triggered_at: str | DateTime | None = None,
        run_id: str | None = None,
        viewer_url: str | None = None,
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        max_consecutive_errors: int = 5,
        attempt: int | None = None,
    ) -> None:
        super().__init__()
        self.automation_name = automation_name
        self.not_before = to_datetime(not_before, "not_before")
        self.deadline = to_datetime(deadline, "deadline")
        self.axiom_conn_id = axiom_conn_id
        self.triggered_at = to_datetime(triggered_at, "triggered_at") if triggered_at else None
        self.run_id = run_id
        self.viewer_url = viewer_url
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        self.max_consecutive_errors = int(max_consecutive_errors)
        self.attempt = attempt

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "automation_name": self.automation_name,
                "not_before": iso(self.not_before),
                "deadline": iso(self.deadline),
                "axiom_conn_id": self.axiom_conn_id,
                "triggered_at": iso(self.triggered_at),
                "run_id": self.run_id,
                "viewer_url": self.viewer_url,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "max_consecutive_errors": self.max_consecutive_errors,
                "attempt": self.attempt,
            },
        )

    @cached_property
    def hook(self) -> AxiomHook:
        """The hook this trigger polls through (one per trigger; the poller is shared per key)."""
        return AxiomHook(self.axiom_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ref = RunRef(self.automation_name, self.not_before, run_id=self.run_id, viewer_url=self.viewer_url)
        try:
            event = await wait_for_run(
                self.hook,
                ref,
                deadline=self.deadline,
                triggered_at=self.triggered_at,
                poll_interval=self.poll_interval,
                max_consecutive_errors=self.max_consecutive_errors,
            )
        except Exception as err:  # a missing connection, a bug: fail closed, never hang
            self.log.exception("axiom.ai trigger failed")
            event = {
                "status": "error",
                "message": f"{type(err).__name__}: {err}",
                "automation_name": self.automation_name,
                "viewer_url": self.viewer_url,
                "error_class": type(err).__name__,
            }
        finally:
            await self.hook.aclose()
        yield TriggerEvent({**event, "attempt": self.attempt})

    async def on_kill(self) -> None:
        """A user marked the deferred task failed, succeeded or cleared (Airflow 3.3+): stop the remote run.

        Airflow 3.3 also calls ``on_kill`` when it moves a trigger to another triggerer (a second
        triggerer joining, say), while the task is still deferred and its run healthy. So the run is
        stopped only when Airflow says the task is no longer deferred; when that cannot be read,
        nothing is stopped (a run left going is better than a healthy run stopped). The work is
        shielded: the triggerer cancels a trigger it is cancelling again about once a second.
        """
        await asyncio.shield(self._stop_if_killed())

    async def _stop_if_killed(self) -> None:
        state = await self._task_state()
        if state in (None, "deferred"):
            log.warning(
                "axiom.ai: the trigger was cancelled while its task is %s (it moved to another triggerer?): "
                "the run of %r is left running",
                state or "in an unknown state",
                self.automation_name,
            )
            return
        async with stopping_hook(self.axiom_conn_id, self.hook.clock) as hook:
            await astop_remote_run(hook, self.viewer_url, self.automation_name, "task killed by a user")

    async def _task_state(self) -> str | None:
        """The current state of this trigger's task instance, asked of Airflow; None when unknown."""
        ti = self.task_instance
        if ti is None:
            return None
        try:
            from airflow.sdk.execution_time import task_runner
            from airflow.sdk.execution_time.comms import GetTaskStates

            request = GetTaskStates(dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id])
            answer = await asyncio.wait_for(task_runner.SUPERVISOR_COMMS.asend(request), timeout=10)
            states = getattr(answer, "task_states", None) or {}
            found = [s for per_run in states.values() for s in (per_run or {}).values()]
        except Exception as err:  # an older Airflow, or no supervisor: unknown
            log.warning("axiom.ai: could not read the task's state: %r", err)
            return None
        log.info("axiom.ai: Airflow reports the task's state as %s", found)
        return str(found[0]) if len(found) == 1 and found[0] is not None else None
