"""``AxiomTriggerAutomationOperator``: trigger an axiom.ai automation, wait for it, return its output rows."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_axiom._compat import BaseOperator, BaseOperatorLink, conf, xcom_value
from airflow_provider_axiom._completion import (
    complete_from_event,
    defer_timeout,
    look_once,
    output_once,
    run_summary,
    stale_event,
    stop_remote_run,
    wait_for_run,
)
from airflow_provider_axiom._protocol import normalize_data, validate_name
from airflow_provider_axiom._runs import DEFAULT_TOLERANCE, RunRef
from airflow_provider_axiom.exceptions import AxiomBadRequestError, AxiomError
from airflow_provider_axiom.hooks.axiom import AxiomHook, stopping_hook
from airflow_provider_axiom.results import TriggerResult
from airflow_provider_axiom.triggers.axiom import AxiomRunTrigger

if TYPE_CHECKING:
    from airflow_provider_axiom._compat import Context, TaskInstanceKey

#: XCom keys pushed before waiting, so the link and downstream tasks work while the task waits.
XCOM_VIEWER_URL = "viewer_url"
XCOM_TRIGGERED_AT = "triggered_at"

#: Task state store key holding the trigger result until the run ends (re-attach on retry, Airflow 3.3+).
STATE_KEY = "axiom_run"


class AxiomRunLink(BaseOperatorLink):
    """Extra link "Axiom run": the live viewer of the run (pushed to XCom as soon as it is triggered)."""

    name = "Axiom run"

    @property
    def xcom_key(self) -> str:
        return XCOM_VIEWER_URL

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        # Airflow calls this as the task ends, on the instance that ran: when that instance knows
        # the link (or that there is none: a queued or failed trigger), no XCom is read; reading
        # one never pushed made Airflow log "XCom not found" as an error.
        if getattr(operator, "_link_known", False):
            return getattr(operator, "_viewer_url", None) or ""
        url = xcom_value(XCOM_VIEWER_URL, ti_key)
        return url if isinstance(url, str) else ""


def as_timedelta(value: timedelta | float | int, field_name: str, *, allow_zero: bool = False) -> timedelta:
    """``timeout``-style arguments: seconds or a timedelta, positive (or zero with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise ValueError(f"{field_name} must be seconds or a timedelta, got {type(value).__name__}")
    delta = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if delta.total_seconds() < 0 or (delta.total_seconds() == 0 and not allow_zero):
        raise ValueError(f"{field_name} must be positive, got {value!r}")
    return delta


def coerce_data(data: Any) -> Any:
    """``data`` as given, or parsed from JSON when templating turned it into a string."""
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            raise AxiomBadRequestError(
                "data is a string that is not JSON",
                hint="Pass a list of rows, an XComArg, a JSON string, or set render_template_as_native_obj=True",
            ) from None
    return data


class AxiomTriggerAutomationOperator(BaseOperator):
    """Trigger an axiom.ai automation with input rows, wait for its run, and return its output.

    The run is started once: a ``/trigger`` whose answer is lost is re-sent only if run reports
    show it did not start. The viewer link is pushed to XCom (``viewer_url``) before waiting.
    While waiting, the run is recognised in ``/run-reports`` by name and start time, so the
    previous run of the same automation is never reported as this one. On Airflow 3.3+ a retry
    re-attaches to the run an earlier attempt started while it is queued or running, and returns
    its result if it already succeeded.

    Returns (XCom ``return_value``) a JSON-serialisable dict: ``automation_name``, ``status``,
    ``viewer_url``, ``run_id``, ``triggered_at``, ``started_at``, ``finished_at``,
    ``description`` and ``data`` (writer token -> rows, or None when unreadable). With
    ``wait_for_completion=False`` it returns the trigger result instead.

    :param automation_name: exact automation name (case and spaces matter). Templated.
    :param data: input rows: a list of rows (2-D) or of tables (3-D); cells become strings.
        Templated; a JSON string is parsed.
    :param axiom_conn_id: the ``axiom`` connection.
    :param wait_for_completion: wait for the run to end (default) or return once triggered.
    :param deferrable: wait in the triggerer instead of the worker.
    :param poll_interval: seconds between looks at run reports (the shared poller's tick).
    :param max_poll_interval: kept for compatibility (see :class:`AxiomRunTrigger`).
    :param timeout: how long to wait for the run, queue included (seconds or timedelta). When it
        passes, the run is asked to stop and the task fails with ``AxiomRunTimeoutError``.
    :param max_consecutive_errors: transient poll failures in a row tolerated while waiting.
    :param clock_tolerance: slack when matching the run's start time to the trigger time.
    """

    template_fields: Sequence[str] = ("automation_name", "data", "axiom_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"data": "json"}
    operator_extra_links = (AxiomRunLink(),)
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        automation_name: str,
        data: Any = None,
        axiom_conn_id: str = AxiomHook.default_conn_name,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        timeout: timedelta | float = timedelta(hours=6),
        max_consecutive_errors: int = 5,
        clock_tolerance: timedelta | float = DEFAULT_TOLERANCE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.automation_name = automation_name
        self.data = data
        self.axiom_conn_id = axiom_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        if poll_interval <= 0 or max_poll_interval <= 0:
            raise ValueError("poll_interval and max_poll_interval must be positive")
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        self.timeout = as_timedelta(timeout, "timeout")
        self.max_consecutive_errors = max(1, int(max_consecutive_errors))
        self.clock_tolerance = as_timedelta(clock_tolerance, "clock_tolerance", allow_zero=True)
        self._viewer_url: str | None = None

    @cached_property
    def hook(self) -> AxiomHook:
        """The hook for this task's connection (made once per task instance)."""
        return AxiomHook(self.axiom_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        self._link_known = True  # from here on this instance knows its run's link (AxiomRunLink)
        name = validate_name(self.automation_name, "automation_name")
        data = normalize_data(coerce_data(self.data))  # before anything is sent
        deadline = self.hook.clock.now() + self.timeout
        resumed = self._resume(context, name)
        if isinstance(resumed, dict):
            return resumed
        result = resumed or self._trigger(context, name, data)
        self._record(context, result, reattached=resumed is not None)
        if not self.wait_for_completion:
            return result.to_dict()
        ref = RunRef.from_trigger(result, self.clock_tolerance)
        if self.deferrable:
            self.defer(
                trigger=AxiomRunTrigger(
                    automation_name=name,
                    not_before=ref.not_before,
                    deadline=deadline,
                    axiom_conn_id=self.axiom_conn_id,
                    triggered_at=result.triggered_at,
                    run_id=result.run_id,
                    viewer_url=result.viewer_url,
                    poll_interval=self.poll_interval,
                    max_poll_interval=self.max_poll_interval,
                    max_consecutive_errors=self.max_consecutive_errors,
                    attempt=getattr(context.get("ti"), "try_number", None),
                ),
                method_name="execute_complete",
                timeout=defer_timeout(deadline - self.hook.clock.now()),
            )
        event = asyncio.run(self._wait_here(ref, deadline, result.triggered_at))
        return self.execute_complete(context, event)

    async def _wait_here(self, ref: RunRef, deadline: Any, triggered_at: Any) -> dict[str, Any]:
        try:
            return await wait_for_run(
                self.hook,
                ref,
                deadline=deadline,
                triggered_at=triggered_at,
                poll_interval=self.poll_interval,
                max_consecutive_errors=self.max_consecutive_errors,
            )
        finally:
            await self.hook.aclose()

    # -- surviving a retry: the run of an earlier attempt is re-attached to, not started again

    def _resume(self, context: Context, name: str) -> TriggerResult | dict[str, Any] | None:
        """The run an earlier attempt left, if this attempt should carry on with it (Airflow 3.3+).

        As the Task SDK's ``ResumableJobMixin``: a run still queued or running is re-attached to
        (the result of that trigger is returned); one that already succeeded gives its result
        (a dict); one that failed, or none at all, means a new run (None). When its state cannot be
        read, it is re-attached to: a second, billed run is worse than a wait.
        """
        saved = _state(context, "get")
        if not (isinstance(saved, dict) and saved.get("automation_name") == name):
            return None
        previous = TriggerResult.from_dict(saved)
        ref = RunRef.from_trigger(previous, self.clock_tolerance)
        try:
            ref, obs = look_once(self.hook, ref)
        except AxiomError as err:
            self.log.warning("axiom.ai: could not check the earlier attempt's run (%s); re-attaching to it", err)
            return previous
        if obs.state in ("waiting", "running"):
            return previous
        if obs.state == "success":
            _state(context, "delete")
            self._record(context, previous, reattached=True, succeeded=True)
            data = output_once(self.hook, ref, obs)
            return run_summary(ref, obs, data=data, triggered_at=previous.triggered_at)
        self.log.info("axiom.ai: the earlier attempt's run of %r ended (%s); starting a new run", name, obs.raw_status)
        return None

    def _trigger(self, context: Context, name: str, data: Any) -> TriggerResult:
        result = self.hook.trigger_automation(name, data)
        if self.wait_for_completion:
            _state(context, "set", result.to_dict(), retention=self.timeout + timedelta(days=1))
        return result

    def _record(self, context: Context, result: TriggerResult, *, reattached: bool, succeeded: bool = False) -> None:
        self._viewer_url = result.viewer_url
        ti = context["ti"]
        if result.viewer_url:  # Airflow 3.0 refuses an XCom of None
            ti.xcom_push(key=XCOM_VIEWER_URL, value=result.viewer_url)
        ti.xcom_push(key=XCOM_TRIGGERED_AT, value=result.triggered_at.isoformat())
        name = result.automation_name
        if succeeded:  # one line: nothing is re-attached to, the result is returned
            self.log.info(
                "axiom.ai: the run of %r an earlier attempt started at %s already succeeded; returning its result",
                name,
                result.triggered_at,
            )
        elif reattached:
            self.log.info("axiom.ai: re-attached to the run of %r started at %s", name, result.triggered_at)
        elif result.status == "queued":
            self.log.info("axiom.ai queued the run of %r: %s", name, result.message)
        elif result.recovered:
            self.log.info(
                "axiom.ai started %r (found in run reports after its answer was lost); "
                "the live-viewer link is unavailable for a run recovered from reports",
                name,
            )
        else:
            self.log.info("axiom.ai started %r; watch it at %s", name, result.viewer_url)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after :class:`AxiomRunTrigger`: return the output, or raise (unknown events fail)."""
        if isinstance(event, dict):  # the link is known from the event (AxiomRunLink reads no XCom)
            self._link_known, self._viewer_url = True, event.get("viewer_url")
        if stale_event(context, event):
            self.log.info("axiom.ai: this try resumed with an earlier try's event; starting over")
            return self.execute(context)
        try:
            return complete_from_event(event, stop=self._stop)
        finally:
            # An "error" event leaves the run possibly running: a retry re-attaches to it.
            if isinstance(event, dict) and event.get("status") in ("success", "failure", "timeout"):
                _state(context, "delete")

    def _stop(self, viewer_url: str | None, name: str, why: str = "timeout") -> bool:
        with stopping_hook(self.axiom_conn_id, self.hook.clock) as hook:
            return stop_remote_run(hook, viewer_url, name, why)

    def on_kill(self) -> None:
        """The task was killed while waiting in the worker: stop the remote run (bounded, best effort)."""
        if self._viewer_url:
            self._stop(self._viewer_url, str(self.automation_name), "task killed")


def _state(context: Context, op: str, *args: Any, **kwargs: Any) -> Any:
    """The task state store (Airflow 3.3+), best effort: absent or failing, it is skipped with a warning."""
    store = context.get("task_state_store")
    if store is None:
        return None
    try:
        return getattr(store, op)(STATE_KEY, *args, **kwargs)
    except Exception as err:  # the store is a convenience; never fail a started run over it
        logging.getLogger(__name__).warning("axiom.ai: task state store %s failed: %s", op, err)
        return None
