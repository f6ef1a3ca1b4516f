"""``AxiomRunSensor``: wait for a run of an automation that started at or after a given time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pendulum import DateTime

from airflow_provider_axiom._compat import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
    mask_secret,
    this_process,
)
from airflow_provider_axiom._completion import (
    complete_from_event,
    defer_timeout,
    link_restored,
    look_once,
    outcome_event,
    stale_event,
    stop_remote_run,
)
from airflow_provider_axiom._protocol import to_datetime, validate_name, viewer_password
from airflow_provider_axiom._run_ref import DEFAULT_TOLERANCE, RunRef
from airflow_provider_axiom._tasks import as_timedelta, waiting_deadline
from airflow_provider_axiom.exceptions import AxiomError
from airflow_provider_axiom.hooks.axiom import AxiomHook, stopping_hook
from airflow_provider_axiom.triggers.axiom import AxiomRunTrigger

if TYPE_CHECKING:
    from airflow_provider_axiom._compat import Context


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
    :param viewer_url: the run's viewer link, to stop it on timeout or kill (and whole in a deferred sensor's
        result: the trigger's event shows its password masked). Templated, optional.
    :param axiom_conn_id: the ``axiom`` connection.
    :param deferrable: wait in the triggerer.
    :param clock_tolerance: slack when comparing the run's start with ``started_after``.
    :param max_consecutive_errors: transient failures in a row (looks, or reads of the output) tolerated.
    :param fetch_output: read a successful run's output rows (one ``/run-data`` call), or skip it.

    ``poke_interval``, ``timeout``, ``mode`` and the other sensor arguments work as usual; a
    deferred sensor also ends at its ``execution_timeout``, counted from the try's start.
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
        fetch_output: bool = True,
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
        self.fetch_output = bool(fetch_output)
        self._failures = 0

    @cached_property
    def hook(self) -> AxiomHook:
        """The hook for this sensor's connection (made once per task instance)."""
        return AxiomHook(self.axiom_conn_id)

    def _ref(self, context: Context) -> RunRef:
        name = validate_name(self.automation_name, "automation_name")
        if self.started_after:
            started_after = to_datetime(self.started_after, "started_after")
        else:
            dag_run = context.get("dag_run")
            start = getattr(dag_run, "start_date", None) or self.hook.clock.now()
            started_after = to_datetime(start, "dag_run.start_date")
        return RunRef.first_since(
            name,
            started_after,
            self.clock_tolerance,
            viewer_url=self.viewer_url or None,
            attempt=getattr(context.get("ti"), "try_number", None),
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        try:
            look = look_once(self.hook, self._ref(context), fetch_output=self.fetch_output, logger=self.log)
        except AxiomError as err:
            self._failures += 1
            if not err.retryable or self._failures >= self.max_consecutive_errors:
                raise
            self.log.warning(
                "axiom.ai: a look at the run failed (%d/%d), poking again: %s",
                self._failures,
                self.max_consecutive_errors,
                err,
            )
            return False
        self._failures = 0
        self.log.info("axiom.ai run of %r: %s", self.automation_name, look.obs.raw_status or "not started yet")
        if not look.obs.state.ends_wait:
            return False
        event = outcome_event(look.ref, look.obs, rows=look.rows, unavailable=look.unavailable)
        return PokeReturnValue(is_done=True, xcom_value=complete_from_event(event))

    def execute(self, context: Context) -> Any:
        mask_secret(viewer_password(self.viewer_url))  # the link is a credential (rendered from XCom)
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout:
                self._stop("timeout")
                raise
            except AirflowSkipException:
                if self._timed_out(context):  # soft_fail turns the timeout into a skip
                    self._stop("timeout")
                raise
        ref = self._ref(context)
        now = self.hook.clock.now()
        deadline = waiting_deadline(context, now, timedelta(seconds=float(self.timeout)), self.execution_timeout)
        self.defer(
            trigger=AxiomRunTrigger(
                run=ref,
                deadline=deadline,
                axiom_conn_id=self.axiom_conn_id,
                poll_interval=float(self.poke_interval),
                max_consecutive_errors=self.max_consecutive_errors,
                fetch_output=self.fetch_output,
                deferred_at=now,
                deferred_in=this_process(),
            ),
            method_name="execute_complete",
            timeout=defer_timeout(deadline - now),
        )

    def _timed_out(self, context: Context) -> bool:
        """Whether the sensor's own timeout has passed (a skip for another reason does not stop the run)."""
        ti = context.get("ti")
        started = getattr(ti, "start_date", None)
        if started is None:
            return True
        return bool((self.hook.clock.now() - to_datetime(started)).total_seconds() >= float(self.timeout))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after :class:`AxiomRunTrigger`: return the output, or raise (unknown events fail)."""
        if stale_event(context, event):
            return self.execute(context)
        mask_secret(viewer_password(self.viewer_url))  # a new worker process after the deferral
        # The trigger masked the link's password in its event: the sensor's own link restores it.
        return complete_from_event(link_restored(event, self.viewer_url or None), stop=lambda _: self._stop("timeout"))

    def _stop(self, why: str) -> bool:
        if not self.viewer_url:
            return False
        with stopping_hook(self.axiom_conn_id, self.hook.clock) as hook:
            return stop_remote_run(hook, str(self.automation_name), why, viewer_url=self.viewer_url)

    def on_kill(self) -> None:
        """Killed while poking: stop the run when its viewer URL is known."""
        self._stop("task killed")
