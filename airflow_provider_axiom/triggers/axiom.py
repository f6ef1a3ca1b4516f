"""``AxiomRunTrigger``: waits in the triggerer for an axiom.ai run to finish."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pendulum import DateTime

from airflow_provider_axiom._compat import BaseTrigger, TriggerEvent
from airflow_provider_axiom._core import iso, utcnow
from airflow_provider_axiom._runs import (
    PollPacer,
    RunObservation,
    RunRef,
    RunWatcher,
    astop_remote_run,
    run_summary,
    to_datetime,
)
from airflow_provider_axiom.exceptions import AxiomError
from airflow_provider_axiom.hooks.axiom import AxiomHook, stopping_hook

log = logging.getLogger(__name__)

#: The event statuses this trigger yields; ``execute_complete`` fails closed on anything else.
EVENT_STATUSES = ("success", "failure", "timeout", "error")


class AxiomRunTrigger(BaseTrigger):
    """Poll ``/run-reports`` until the run identified by ``automation_name`` and ``not_before`` ends.

    Yields exactly one event and returns: ``{"status": "success" | "failure" | "timeout" | "error",
    "message": ..., "summary": {...}}``. Transient API errors are absorbed with backoff until
    ``max_consecutive_errors`` polls in a row have failed. It never stops the run itself, except in
    :meth:`on_kill`, which Airflow calls only when a user marks the task failed, succeeded or
    cleared (not on a triggerer restart).

    :param automation_name: the automation's exact name.
    :param not_before: the run's ``created_at`` is at or after this (ISO 8601, server time).
    :param deadline: absolute UTC time (ISO 8601) at which a ``timeout`` event is yielded.
    :param axiom_conn_id: the connection id (the key itself is never serialised).
    :param triggered_at: when the run was triggered, reported back in the result.
    :param run_id: the API's run id, when it returned one.
    :param viewer_url: the run's viewer link, used to stop it on kill.
    :param poll_interval: first wait between polls (seconds); doubles up to ``max_poll_interval``.
    :param max_poll_interval: longest wait between polls (seconds).
    :param max_consecutive_errors: transient failures in a row tolerated before an ``error`` event.
    """

    #: Injectable for tests: the clock and the sleep used between polls.
    clock: Callable[[], DateTime] = staticmethod(utcnow)
    sleep: Callable[[float], Awaitable[Any]] = staticmethod(asyncio.sleep)

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
            },
        )

    def _ref(self) -> RunRef:
        return RunRef(
            automation_name=self.automation_name,
            not_before=self.not_before,
            run_id=self.run_id,
            viewer_url=self.viewer_url,
        )

    def _event(self, status: str, message: str, **extra: Any) -> TriggerEvent:
        payload = {
            "status": status,
            "message": message,
            "automation_name": self.automation_name,
            "viewer_url": self.viewer_url,
            "triggered_at": iso(self.triggered_at),
            **extra,
        }
        return TriggerEvent(payload)

    def _hook(self) -> AxiomHook:
        return AxiomHook(self.axiom_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        try:
            yield await self._wait(hook)
        finally:
            await hook.aclose()

    async def _wait(self, hook: AxiomHook) -> TriggerEvent:
        watcher = RunWatcher(hook, self._ref())
        pacer = PollPacer(
            deadline=self.deadline,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            max_consecutive_errors=self.max_consecutive_errors,
            clock=self.clock,
        )
        while not pacer.expired():
            try:
                obs = await watcher.apoll()
                if obs.terminal:
                    data = await watcher.aoutput(obs) if obs.state == "success" else None
                    summary = run_summary(watcher.ref, obs, data=data, triggered_at=self.triggered_at)
                    return self._event(
                        obs.state, f"the run of {self.automation_name!r} ended: {obs.raw_status}", summary=summary
                    )
                if obs.state == "unknown":
                    return self._event(
                        "error",
                        f"the run of {self.automation_name!r} reports an unknown status {obs.raw_status!r}",
                        error_class="AxiomApiError",
                    )
                pacer.succeeded()
            except AxiomError as err:
                if not pacer.tolerate(err):
                    return self._event(
                        "error",
                        str(err),
                        error_class=type(err).__name__,
                        status_code=err.status_code,
                        api_message=err.api_message,
                        retryable=err.retryable,
                    )
            except Exception as err:  # a bug or an unexpected answer: fail closed, never hang
                log.exception("axiom.ai trigger failed unexpectedly")
                return self._event("error", f"{type(err).__name__}: {err}", error_class="AxiomApiError")
            await self.sleep(pacer.next_wait())
        return self._event(
            "timeout",
            f"the run of {self.automation_name!r} did not finish by {self.deadline.isoformat()}",
            summary=run_summary(watcher.ref, RunObservation("waiting"), data=None, triggered_at=self.triggered_at),
        )

    async def on_kill(self) -> None:
        """A user marked the deferred task failed, succeeded or cleared: stop the remote run."""
        async with stopping_hook(self.axiom_conn_id) as hook:
            await astop_remote_run(hook, self.viewer_url, self.automation_name, "task killed by a user")
