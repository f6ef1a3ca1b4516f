"""``AxiomRunSensor``: wait for a run of an automation that started at or after a given time."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pendulum import DateTime

from airflow_provider_axiom._compat import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)
from airflow_provider_axiom._core import utcnow, validate_name
from airflow_provider_axiom._runs import DEFAULT_TOLERANCE, RunRef, RunWatcher, stop_remote_run, to_datetime
from airflow_provider_axiom._waiting import as_timedelta, complete_from_event, defer_timeout, settle
from airflow_provider_axiom.hooks.axiom import AxiomHook, stopping_hook
from airflow_provider_axiom.triggers.axiom import AxiomRunTrigger

if TYPE_CHECKING:
    from airflow_provider_axiom._compat import Context

log = logging.getLogger(__name__)


class AxiomRunSensor(BaseSensorOperator):
    """Wait for the run of ``automation_name`` that started at or after ``started_after``.

    Works in ``poke``, ``reschedule`` and deferrable modes, all through the same status
    classifier as the operator. Returns (XCom ``return_value``) the same dict as
    :class:`~airflow_provider_axiom.operators.axiom.AxiomTriggerAutomationOperator`. A run that
    ends in ``Failure`` raises ``AxiomRunFailedError`` with the run report's description. When
    the sensor times out or is killed and ``viewer_url`` is known, the run is asked to stop.

    :param automation_name: exact automation name. Templated.
    :param started_after: the run's start is at or after this (datetime or ISO 8601; e.g.
        ``"{{ ti.xcom_pull(task_ids='trigger', key='triggered_at') }}"``). Templated. Default:
        the DAG run's start.
    :param viewer_url: the run's viewer link, to stop it on timeout or kill. Templated, optional.
    :param axiom_conn_id: the ``axiom`` connection.
    :param deferrable: wait in the triggerer.
    :param clock_tolerance: slack when comparing the run's start with ``started_after``.
    :param max_consecutive_errors: transient poll failures in a row tolerated when deferred.

    ``poke_interval``, ``timeout``, ``mode`` and the other sensor arguments work as usual.
    """

    template_fields: Sequence[str] = ("automation_name", "started_after", "viewer_url", "axiom_conn_id")

    def __init__(
        self,
        *,
        automation_name: str,
        started_after: str | DateTime | None = None,
        viewer_url: str | None = None,
        axiom_conn_id: str = AxiomHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        clock_tolerance: timedelta | float = DEFAULT_TOLERANCE,
        max_consecutive_errors: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.automation_name = automation_name
        self.started_after = started_after
        self.viewer_url = viewer_url
        self.axiom_conn_id = axiom_conn_id
        self.deferrable = deferrable
        self.clock_tolerance = as_timedelta(clock_tolerance, "clock_tolerance", allow_zero=True)
        self.max_consecutive_errors = max(1, int(max_consecutive_errors))

    def _ref(self, context: Context) -> RunRef:
        name = validate_name(self.automation_name, "automation_name")
        if self.started_after:
            started_after = to_datetime(self.started_after, "started_after")
        else:
            dag_run = context.get("dag_run")
            start = getattr(dag_run, "start_date", None) or utcnow()
            started_after = to_datetime(start, "dag_run.start_date")
        return RunRef(
            automation_name=name,
            not_before=started_after - self.clock_tolerance,
            viewer_url=self.viewer_url or None,
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        with AxiomHook(self.axiom_conn_id) as hook:
            watcher = RunWatcher(hook, self._ref(context))
            obs = watcher.poll()
            log.info("axiom.ai run of %r: %s", self.automation_name, obs.raw_status or "not started yet")
            if not (obs.terminal or obs.state == "unknown"):
                return False
            return PokeReturnValue(is_done=True, xcom_value=settle(watcher, obs, self.started_after))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout:
                self._stop("timeout")
                raise
            except AirflowSkipException as skip:  # soft_fail turns the timeout into a skip
                if str(skip).startswith("Sensor has timed out"):
                    self._stop("timeout")
                raise
        first = self.poke(context)
        if isinstance(first, PokeReturnValue):
            return first.xcom_value
        ref = self._ref(context)
        timeout = timedelta(seconds=float(self.timeout))
        deadline = utcnow() + timeout
        self.defer(
            trigger=AxiomRunTrigger(
                automation_name=ref.automation_name,
                not_before=ref.not_before,
                deadline=deadline,
                axiom_conn_id=self.axiom_conn_id,
                triggered_at=to_datetime(self.started_after, "started_after") if self.started_after else None,
                viewer_url=ref.viewer_url,
                poll_interval=float(self.poke_interval),
                max_poll_interval=float(self.poke_interval),
                max_consecutive_errors=self.max_consecutive_errors,
            ),
            method_name="execute_complete",
            timeout=defer_timeout(timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after :class:`AxiomRunTrigger`: return the output, or raise (unknown events fail)."""
        return complete_from_event(self.axiom_conn_id, event)

    def _stop(self, why: str) -> None:
        if self.viewer_url:
            with stopping_hook(self.axiom_conn_id) as hook:
                stop_remote_run(hook, self.viewer_url, str(self.automation_name), why)

    def on_kill(self) -> None:
        """Killed while poking: stop the run when its viewer URL is known."""
        self._stop("task killed")
