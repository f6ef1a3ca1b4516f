"""``AxiomRunTrigger``: waits in the triggerer for an axiom.ai run to finish."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

from pendulum import DateTime

from airflow_provider_axiom import _upgrade
from airflow_provider_axiom._compat import (
    BaseTrigger,
    TriggerEvent,
    resume_guarded,
    supervisor_asend,
    supervisor_comms,
)
from airflow_provider_axiom._completion import EVENT_STATUSES, astop_remote_run, wait_for_run
from airflow_provider_axiom._completion.events import event, link_masked
from airflow_provider_axiom._protocol import iso, to_datetime
from airflow_provider_axiom._run_ref import KEY, RunRef
from airflow_provider_axiom.hooks.axiom import AxiomHook, stopping_hook

__all__ = ["EVENT_STATUSES", "AxiomRunTrigger"]

log = logging.getLogger(__name__)

#: Seconds to wait for Airflow's answer about the task's state in ``on_kill``. The triggerer's
#: supervisor answers its first such question only after building its execution API client: 11 s
#: on a loaded 2-core machine. The wait is shielded and the run healthy meanwhile, so it can be long.
TASK_STATE_TIMEOUT = 30.0


class AxiomRunTrigger(BaseTrigger):
    """Wait in the triggerer until the run identified by ``run`` ends.

    All triggers of one key in a triggerer share one poller: one ``/run-reports`` call per tick
    for all of them, and runs are matched to their triggers together. Yields exactly one event
    and returns: ``{"status": "success" | "failure" | "timeout" | "error", "message": ...,
    "summary": {...}}``; the event shows the viewer link's password as ``***`` (the task restores the
    link from its own record). Transient API errors are absorbed until ``max_consecutive_errors`` looks
    (or output reads) in a row have failed. It never stops the run itself, except in
    :meth:`on_kill` once Airflow says the task is no longer deferred (Airflow 3.3+).

    :param run: the run's identity (:class:`~airflow_provider_axiom._run_ref.RunRef` or its ``to_dict()``),
        built once by the operator (from ``/trigger``'s answer) or the sensor: automation name,
        creation-time window, run id, viewer URL, trigger time and try number. The event carries it
        back under the same key.
    :param deadline: absolute UTC time (ISO 8601) at which a ``timeout`` event is yielded.
    :param axiom_conn_id: the connection id (the key itself is never serialised).
    :param poll_interval: the shared poller's tick (seconds, default 5): how often run reports are read.
    :param max_poll_interval: deprecated and ignored (a ``DeprecationWarning``): the tick never grows
        with time, and slows down only when the key's rate limit is reached.
    :param max_consecutive_errors: transient failures in a row tolerated before an ``error`` event.
    :param fetch_output: read a successful run's output rows (one ``/run-data`` call), or skip it.
    :param deferred_at: when the task deferred (ISO 8601, UTC, the worker's clock); the event comes no
        sooner than ``RESUME_GUARD`` (15 s) after it (apache/airflow#71580). None: no guard.
    :param deferred_in: the process that deferred (host and pid); a trigger run there (``airflow dags
        test``) keeps no guard.

    Triggers serialised by 0.2 (``automation_name``, ``not_before``, ``run_id``, ``viewer_url``,
    ``triggered_at``, ``attempt``) are still accepted until 0.4, with a ``DeprecationWarning``: they
    wait for the first run created at or after ``not_before``, as 0.2 did.
    """

    def __init__(
        self,
        *,
        deadline: str | DateTime,
        run: RunRef | dict[str, Any] | None = None,
        axiom_conn_id: str = AxiomHook.default_conn_name,
        poll_interval: float = 5.0,
        max_consecutive_errors: int = 5,
        fetch_output: bool = True,
        max_poll_interval: float | None = None,
        deferred_at: str | DateTime | None = None,
        deferred_in: str | None = None,
        **legacy: Any,
    ) -> None:
        super().__init__()
        if max_poll_interval is not None:
            _upgrade.max_poll_interval("AxiomRunTrigger")
        if isinstance(run, RunRef):
            self.run_ref = run
        elif run is not None:
            self.run_ref = RunRef.from_dict(run)
        else:
            self.run_ref = _upgrade.trigger_ref(legacy)
        if run is not None and legacy:
            raise TypeError(f"AxiomRunTrigger got unexpected arguments {sorted(legacy)}")
        self.deadline = to_datetime(deadline, "deadline")
        self.axiom_conn_id = axiom_conn_id
        self.poll_interval = float(poll_interval)
        self.max_consecutive_errors = int(max_consecutive_errors)
        self.fetch_output = bool(fetch_output)
        self.deferred_at = None if deferred_at is None else to_datetime(deferred_at, "deferred_at")
        self.deferred_in = deferred_in

    @property
    def automation_name(self) -> str:
        return self.run_ref.automation_name

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                KEY: self.run_ref.to_dict(),
                "deadline": iso(self.deadline),
                "axiom_conn_id": self.axiom_conn_id,
                "poll_interval": self.poll_interval,
                "max_consecutive_errors": self.max_consecutive_errors,
                "fetch_output": self.fetch_output,
                "deferred_at": None if self.deferred_at is None else iso(self.deferred_at),
                "deferred_in": self.deferred_in,
            },
        )

    @cached_property
    def hook(self) -> AxiomHook:
        """The hook this trigger polls through (one per trigger; the poller is shared per key)."""
        return AxiomHook(self.axiom_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            payload = await wait_for_run(
                self.hook,
                self.run_ref,
                deadline=self.deadline,
                poll_interval=self.poll_interval,
                max_consecutive_errors=self.max_consecutive_errors,
                fetch_output=self.fetch_output,
                logger=self.log,  # what the shared poller says about this run: in this trigger's log
            )
        except Exception as err:  # a missing connection, a bug: fail closed, never hang
            self.log.exception("axiom.ai trigger failed")
            payload = event(self.run_ref, "error", f"{type(err).__name__}: {err}", error_class=type(err).__name__)
        finally:
            await self.hook.aclose()
        await self._guard_resume()
        yield TriggerEvent(link_masked(payload))  # Airflow logs the event: no password in it

    async def _guard_resume(self) -> None:
        """Fire no sooner than ``RESUME_GUARD`` after the task deferred (a short run ends within seconds of
        the deferral, and Airflow fails a task that resumes that fast: apache/airflow#71580). Local
        clocks on both sides: the API's clock (the run's times) may run at another pace (an emulator)."""
        until = resume_guarded(self.deferred_at, self.deferred_in)
        await self.hook.clock.asleep_until(None if until is None else min(until, self.deadline))

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
                self.run_ref.automation_name,
            )
            return
        async with stopping_hook(self.axiom_conn_id, self.hook.clock) as hook:
            ref = self.run_ref
            await astop_remote_run(
                hook, ref.automation_name, "task killed by a user", viewer_url=ref.viewer_url, run_id=ref.run_id
            )

    async def _task_state(self) -> str | None:
        """The current state of this trigger's task instance, asked of Airflow; None when unknown."""
        ti = self.task_instance
        if ti is None:
            return None
        try:
            from airflow.sdk.execution_time.comms import GetTaskStates

            comms = supervisor_comms()
            if comms is None:
                raise RuntimeError("no supervisor to ask")
            request = GetTaskStates(dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id])
            answer = await asyncio.wait_for(supervisor_asend(comms, request), timeout=TASK_STATE_TIMEOUT)
            states = getattr(answer, "task_states", None) or {}
            found = [s for per_run in states.values() for s in (per_run or {}).values()]
        except Exception as err:  # an older Airflow, or no supervisor: unknown
            log.warning("axiom.ai: could not read the task's state: %r", err)
            return None
        log.info("axiom.ai: Airflow reports the task's state as %s", found)
        return str(found[0]) if len(found) == 1 and found[0] is not None else None
