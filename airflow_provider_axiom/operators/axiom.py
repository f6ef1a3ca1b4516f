"""``AxiomTriggerAutomationOperator``: trigger an axiom.ai automation, wait for it, return its output rows."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_axiom._compat import BaseOperator, BaseOperatorLink, conf, xcom_value
from airflow_provider_axiom._core import TriggerResult, normalize_data, utcnow, validate_name
from airflow_provider_axiom._runs import (
    DEFAULT_TOLERANCE,
    PollPacer,
    RunRef,
    RunWatcher,
    stop_remote_run,
    timeout_error,
)
from airflow_provider_axiom._waiting import as_timedelta, complete_from_event, defer_timeout, settle, wait_in_worker
from airflow_provider_axiom.exceptions import AxiomBadRequestError
from airflow_provider_axiom.hooks.axiom import AxiomHook, stopping_hook
from airflow_provider_axiom.triggers.axiom import AxiomRunTrigger

if TYPE_CHECKING:
    from airflow_provider_axiom._compat import Context, TaskInstanceKey

log = logging.getLogger(__name__)

#: XCom keys pushed before waiting, so the link and downstream tasks work while the task waits.
XCOM_VIEWER_URL = "viewer_url"
XCOM_TRIGGERED_AT = "triggered_at"

#: Task state store key holding the trigger result until the run ends (re-attach on retry).
STATE_KEY = "axiom_run"


class AxiomRunLink(BaseOperatorLink):
    """Extra link "Axiom run": the live viewer of the run (pushed to XCom as soon as it is triggered)."""

    name = "Axiom run"

    @property
    def xcom_key(self) -> str:
        return XCOM_VIEWER_URL

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        url = xcom_value(XCOM_VIEWER_URL, ti_key)
        return url if isinstance(url, str) else ""


def _state_get(store: Any) -> Any:
    if store is None:
        return None
    try:
        return store.get(STATE_KEY)
    except Exception as err:
        log.warning("axiom.ai: could not read the task state store: %s", err)
        return None


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
    previous run of the same automation is never reported as this one.

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
    :param poll_interval: first wait between polls, seconds (doubles up to ``max_poll_interval``).
    :param max_poll_interval: longest wait between polls, seconds.
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

    # Injectable for tests.
    _sleep = staticmethod(time.sleep)
    _clock = staticmethod(utcnow)

    def hook(self) -> AxiomHook:
        """A new hook for this task's connection."""
        return AxiomHook(self.axiom_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        name = validate_name(self.automation_name, "automation_name")
        data = normalize_data(coerce_data(self.data))  # before anything is sent
        deadline = self._clock() + self.timeout
        with self.hook() as hook:
            result = self._resume_or_trigger(context, hook, name, data)
            self._record(context, result)
            if not self.wait_for_completion:
                return result.to_dict()
            watcher = RunWatcher(hook, RunRef.from_trigger(result, self.clock_tolerance))
            obs = watcher.poll()  # once, before deciding to defer
            if obs.terminal or obs.state == "unknown":
                return self._settle(context, watcher, obs, result)
            if self.deferrable:
                self.defer(
                    trigger=AxiomRunTrigger(
                        automation_name=name,
                        not_before=watcher.ref.not_before,
                        deadline=deadline,
                        axiom_conn_id=self.axiom_conn_id,
                        triggered_at=result.triggered_at,
                        run_id=result.run_id,
                        viewer_url=result.viewer_url,
                        poll_interval=self.poll_interval,
                        max_poll_interval=self.max_poll_interval,
                        max_consecutive_errors=self.max_consecutive_errors,
                    ),
                    method_name="execute_complete",
                    timeout=defer_timeout(deadline - self._clock()),
                )
            pacer = PollPacer(
                deadline=deadline,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                max_consecutive_errors=self.max_consecutive_errors,
                clock=self._clock,
            )
            obs_or_none = wait_in_worker(watcher, pacer, sleep=self._sleep)
            if obs_or_none is None:
                stopped = stop_remote_run(hook, result.viewer_url, name, "timeout")
                self._forget(context)
                raise timeout_error(f"the run of {name!r} did not finish within {self.timeout}", stopped)
            return self._settle(context, watcher, obs_or_none, result)

    # -- surviving a retry: the run of a failed attempt is re-attached to, not started again

    def _resume_or_trigger(self, context: Context, hook: AxiomHook, name: str, data: Any) -> TriggerResult:
        """Trigger, unless an earlier attempt of this task started a run that is still going.

        The trigger result is kept in the task state store (Airflow >= 3.3) until the run ends, so
        a retry after a worker crash, a lost poll or a triggerer error re-attaches to that run
        instead of starting a second, billed one. A run that has ended is never re-attached to.
        """
        store = context.get("task_state_store")
        saved = _state_get(store)
        if isinstance(saved, dict) and saved.get("automation_name") == name:
            previous = TriggerResult.from_dict(saved)
            obs = RunWatcher(hook, RunRef.from_trigger(previous, self.clock_tolerance)).poll()
            if obs.state in ("waiting", "running"):
                log.info(
                    "axiom.ai: an earlier attempt started a run of %r at %s that is still %s: re-attaching to it",
                    name,
                    previous.triggered_at,
                    obs.raw_status or "queued",
                )
                return previous
            log.info("axiom.ai: the earlier attempt's run of %r ended (%s); starting a new run", name, obs.raw_status)
        result = hook.trigger_automation(name, data)
        if store is not None and self.wait_for_completion:
            try:
                store.set(STATE_KEY, result.to_dict(), retention=self.timeout + timedelta(days=1))
            except Exception as err:  # the store is a convenience; never fail a started run over it
                log.warning("axiom.ai: could not save the run to the task state store: %s", err)
        return result

    def _settle(self, context: Context, watcher: RunWatcher, obs: Any, result: TriggerResult) -> dict[str, Any]:
        try:
            return settle(watcher, obs, result.triggered_at)
        finally:
            if obs.terminal:
                self._forget(context)

    @staticmethod
    def _forget(context: Context) -> None:
        store = context.get("task_state_store")
        if store is not None:
            try:
                store.delete(STATE_KEY)
            except Exception as err:
                log.warning("axiom.ai: could not clear the task state store: %s", err)

    def _record(self, context: Context, result: TriggerResult) -> None:
        self._viewer_url = result.viewer_url
        ti = context["ti"]
        ti.xcom_push(key=XCOM_VIEWER_URL, value=result.viewer_url)
        ti.xcom_push(key=XCOM_TRIGGERED_AT, value=result.triggered_at.isoformat())
        if result.status == "queued":
            log.info("axiom.ai queued the run of %r: %s", result.automation_name, result.message)
        else:
            log.info("axiom.ai started %r; watch it at %s", result.automation_name, result.viewer_url)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after :class:`AxiomRunTrigger`: return the output, or raise (unknown events fail)."""
        try:
            return complete_from_event(self.axiom_conn_id, event)
        finally:
            # An "error" event leaves the run possibly running: a retry re-attaches to it.
            if isinstance(event, dict) and event.get("status") in ("success", "failure", "timeout"):
                self._forget(context)

    def on_kill(self) -> None:
        """The task was killed while waiting in the worker: stop the remote run (bounded, best effort)."""
        if self._viewer_url:
            with stopping_hook(self.axiom_conn_id) as hook:
                stop_remote_run(hook, self._viewer_url, str(self.automation_name), "task killed")
