"""``AxiomTriggerAutomationOperator``: trigger an axiom.ai automation, wait for it, return its output rows."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_axiom import _upgrade
from airflow_provider_axiom._compat import BaseOperator, BaseOperatorLink, conf, mask_secret, this_process, xcom_value
from airflow_provider_axiom._completion import (
    complete_from_event,
    defer_timeout,
    link_restored,
    settles_run,
    stale_event,
    stop_remote_run,
    wait_for_run,
)
from airflow_provider_axiom._completion.events import run_field
from airflow_provider_axiom._completion.slots import DEFAULT_MAX_HOLD, could_hold, hold_now, teller, wait_for_slot
from airflow_provider_axiom._protocol import to_datetime, viewer_password, whole_link
from airflow_provider_axiom._run_ref import DEFAULT_TOLERANCE, RunRef
from airflow_provider_axiom._tasks import TaskState, as_timedelta, trigger_input, waiting_deadline
from airflow_provider_axiom.exceptions import AxiomRunTimeoutError
from airflow_provider_axiom.hooks.axiom import AxiomHook, stopping_hook
from airflow_provider_axiom.operators._reattach import STATE_KEY, resume, save, task_state
from airflow_provider_axiom.operators._record import XCOM_TRIGGERED_AT, XCOM_VIEWER_URL, record
from airflow_provider_axiom.results import TriggerResult
from airflow_provider_axiom.triggers.axiom import AxiomRunTrigger
from airflow_provider_axiom.triggers.slot import AxiomSlotTrigger

if TYPE_CHECKING:
    from pendulum import DateTime

    from airflow_provider_axiom._compat import Context, TaskInstanceKey

# The XCom keys and the task state key live with their code (`_record`, `_reattach`) and are importable here, as before.
__all__ = ["STATE_KEY", "XCOM_TRIGGERED_AT", "XCOM_VIEWER_URL", "AxiomRunLink", "AxiomTriggerAutomationOperator"]


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


class AxiomTriggerAutomationOperator(BaseOperator):
    """Trigger an axiom.ai automation with input rows, wait for its run, and return its output.

    The run is started once: a ``/trigger`` whose answer is lost is re-sent only if run reports
    show it did not start. The viewer link is pushed to XCom (``viewer_url``) before waiting.
    While waiting, the run is recognised by its run id when the API gives one, else in
    ``/run-reports`` by name and creation time, matched together with every other run waited for
    (see "How a run is recognised" in the README): a task never reports another task's run. On
    Airflow 3.3+ a retry re-attaches to the run an earlier attempt started while it is queued or
    running, and returns its result if it already succeeded.

    Returns (XCom ``return_value``) a JSON-serialisable dict: ``automation_name``, ``status``,
    ``viewer_url``, ``run_id``, ``triggered_at``, ``started_at``, ``finished_at``,
    ``description``, ``identity``, ``candidates``, ``data`` (writer token -> rows) and
    ``data_unavailable`` (why ``data`` is None). With ``wait_for_completion=False`` it returns the
    trigger result instead.

    :param automation_name: exact automation name (case and spaces matter). Templated.
    :param data: input rows: a list of rows (2-D) or of tables (3-D); cells become strings.
        Templated; a JSON string is parsed.
    :param axiom_conn_id: the ``axiom`` connection.
    :param wait_for_completion: wait for the run to end (default) or return once triggered.
    :param deferrable: wait in the triggerer instead of the worker.
    :param poll_interval: seconds between looks at run reports (the shared poller's tick).
    :param max_poll_interval: deprecated and ignored (a ``DeprecationWarning``; see :class:`AxiomRunTrigger`).
    :param timeout: how long to wait for the run, queue included (seconds or timedelta). When it
        (or the task's ``execution_timeout``, counted from the try's start) passes, the run is asked
        to stop and the task fails with ``AxiomRunTimeoutError``.
    :param max_consecutive_errors: transient failures in a row (looks at the run, or reads of its
        output) tolerated while waiting.
    :param clock_tolerance: slack when matching the run's start time to the trigger time.
    :param fetch_output: read a successful run's output rows (one ``/run-data`` call per run);
        ``False`` skips the read: ``data`` is None and ``data_unavailable`` is ``"not_requested"``.
    :param cloud_concurrency: the automation has axiom.ai's "Allow cloud concurrency" on (several of
        its runs may go at once); off by default, as in axiom.ai.
    :param wait_for_slot: hold the trigger while axiom.ai would queue it (its automation is running,
        or the account runs as many runs as its plan allows), and send it when a slot frees, at most
        ten minutes later; its run then starts at once and is certainly this task's. ``False``
        sends it at once (a queued trigger is matched once its automation has been idle for the
        connection's ``queue_idle_window``).
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
        max_poll_interval: float | None = None,
        timeout: timedelta | float = timedelta(hours=6),
        max_consecutive_errors: int = 5,
        clock_tolerance: timedelta | float = DEFAULT_TOLERANCE,
        fetch_output: bool = True,
        cloud_concurrency: bool = False,
        wait_for_slot: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.automation_name = automation_name
        self.data = data
        self.axiom_conn_id = axiom_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        if max_poll_interval is not None:
            _upgrade.max_poll_interval(type(self).__name__)
        self.poll_interval = float(poll_interval)
        self.timeout = as_timedelta(timeout, "timeout")
        self.max_consecutive_errors = max(1, int(max_consecutive_errors))
        self.clock_tolerance = as_timedelta(clock_tolerance, "clock_tolerance", allow_zero=True)
        self.fetch_output = bool(fetch_output)
        self.cloud_concurrency = bool(cloud_concurrency)
        self.wait_for_slot = bool(wait_for_slot)
        self._ref: RunRef | None = None

    @cached_property
    def hook(self) -> AxiomHook:
        """The hook for this task's connection (made once per task instance)."""
        return AxiomHook(self.axiom_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        self._link_known = True  # from here on this instance knows its run's link (AxiomRunLink)
        name, data = trigger_input(self.automation_name, self.data)  # before anything is sent
        now = self.hook.clock.now()
        deadline = waiting_deadline(context, now, self.timeout, self.execution_timeout)
        attempt = getattr(context.get("ti"), "try_number", None)
        resumed = self._resume(context, name, attempt)
        if isinstance(resumed, dict):
            return resumed
        if resumed is not None:
            return self._after_trigger(context, deadline, ref=resumed)
        self._hold_for_slot(context, name, deadline, held_since=now)  # may defer to AxiomSlotTrigger
        return self._after_trigger(context, deadline, result=self._trigger(name, data))

    def execute_after_slot(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after :class:`AxiomSlotTrigger`: send the trigger (on ``timeout`` nothing was started)."""
        name, data = trigger_input(self.automation_name, self.data)
        deadline = to_datetime(event["deadline"], "deadline")
        if event.get("slot") == "timeout":
            raise AxiomRunTimeoutError(f"the trigger of {name!r} was held for a slot until the task's deadline")
        if event.get("slot") == "free":
            # A look just before sending: another process (a second triggerer, a worker) may have
            # taken the slot since the triggerer let this one go. Held again, it defers again, with
            # the same bound.
            held_since = to_datetime(event["held_since"], "held_since")
            self._hold_for_slot(context, name, deadline, held_since=held_since, looked_at_once=True)
        return self._after_trigger(context, deadline, result=self._trigger(name, data))

    def _hold_for_slot(
        self, context: Context, name: str, deadline: DateTime, *, held_since: DateTime, looked_at_once: bool = False
    ) -> None:
        """Hold the trigger while it would be queued (see ``_completion.slots``): here, or deferred.

        ``looked_at_once``: a mapped copy also looks first (it has been let go by the triggerer).
        """
        if not (self.wait_for_slot and self.wait_for_completion):
            return
        if not could_hold(self.hook, cloud_concurrency=self.cloud_concurrency):
            return  # cloud concurrency on and no concurrent_runs: nothing to wait for, no call
        hold_until = held_since + DEFAULT_MAX_HOLD
        if self.deferrable:
            # A mapped copy always asks the triggerer, where the copies' triggers are let go one at a
            # time; another task looks once (one /run-reports call) and defers only when held.
            mapped = getattr(context.get("ti"), "map_index", -1) not in (None, -1) and not looked_at_once
            if (
                not mapped
                and hold_now(self.hook, name, cloud_concurrency=self.cloud_concurrency, let_go=looked_at_once) is None
            ):
                return
            self.defer(
                trigger=AxiomSlotTrigger(
                    automation_name=name,
                    held_since=held_since,
                    hold_until=hold_until,
                    deadline=deadline,
                    axiom_conn_id=self.axiom_conn_id,
                    cloud_concurrency=self.cloud_concurrency,
                    poll_interval=self.poll_interval,
                    deferred_at=self.hook.clock.now(),
                    deferred_in=this_process(),
                ),
                method_name="execute_after_slot",
                timeout=defer_timeout(deadline - self.hook.clock.now()),
            )
        if hold_now(self.hook, name, cloud_concurrency=self.cloud_concurrency) is None:
            return  # one look: free (or nothing could hold it)
        say = teller(
            self.log, self.axiom_conn_id, name, held_since=held_since, hold_until=hold_until, now=self.hook.clock.now
        )
        outcome = asyncio.run(self._wait_for_slot_here(name, hold_until, deadline, say))
        if outcome == "timeout":
            raise AxiomRunTimeoutError(f"the trigger of {name!r} was held for a slot until the task's deadline")

    async def _wait_for_slot_here(self, name: str, hold_until: DateTime, deadline: DateTime, say: Any) -> str:
        try:
            outcome, _ = await wait_for_slot(
                self.hook,
                name,
                cloud_concurrency=self.cloud_concurrency,
                poll_interval=self.poll_interval,
                hold_until=hold_until,
                deadline=deadline,
                say=say,
            )
            return outcome
        finally:
            await self.hook.aclose()

    def _after_trigger(
        self, context: Context, deadline: DateTime, *, result: TriggerResult | None = None, ref: RunRef | None = None
    ) -> dict[str, Any]:
        """Record the trigger, then return (``wait_for_completion=False``) or wait: deferred, or here.

        ``result``: ``/trigger`` just answered; the run's identity is built from it, once, and saved in
        the task state. ``ref``: the run an earlier attempt started, re-attached to.
        """
        if result is not None:
            if self.wait_for_completion:  # saved first: a retry re-attaches to this run, never sends another
                attempt = getattr(context.get("ti"), "try_number", None)
                ref = RunRef.from_trigger(result, self.clock_tolerance, attempt=attempt)
                save(self._state(context), ref, self.timeout)
            self._record(context, result.automation_name, result.viewer_url, result.triggered_at, result=result)
            if ref is None:
                return result.to_dict()
        else:
            assert ref is not None
            self._record(context, ref.automation_name, ref.viewer_url, ref.triggered_at)
        self._ref = ref
        if self.deferrable:
            self.defer(
                trigger=AxiomRunTrigger(
                    run=ref,
                    deadline=deadline,
                    axiom_conn_id=self.axiom_conn_id,
                    poll_interval=self.poll_interval,
                    max_consecutive_errors=self.max_consecutive_errors,
                    fetch_output=self.fetch_output,
                    deferred_at=self.hook.clock.now(),
                    deferred_in=this_process(),
                ),
                method_name="execute_complete",
                timeout=defer_timeout(deadline - self.hook.clock.now()),
            )
        event = asyncio.run(self._wait_here(ref, deadline))
        return self.execute_complete(context, event)

    async def _wait_here(self, ref: RunRef, deadline: Any) -> dict[str, Any]:
        try:
            return await wait_for_run(
                self.hook,
                ref,
                deadline=deadline,
                poll_interval=self.poll_interval,
                max_consecutive_errors=self.max_consecutive_errors,
                fetch_output=self.fetch_output,
                logger=self.log,
            )
        finally:
            await self.hook.aclose()

    # -- surviving a retry: the run of an earlier attempt is re-attached to, not started again

    def _resume(self, context: Context, name: str, attempt: int | None) -> RunRef | dict[str, Any] | None:
        """The run an earlier attempt left, to carry on with, or its result (see ``_reattach.resume``).

        Only a task that waits saves its run (``wait_for_completion``), so only such a task re-attaches.
        """
        if not self.wait_for_completion:
            return None
        return resume(
            self.hook,
            self._state(context),
            name,
            attempt,
            tolerance=self.clock_tolerance,
            timeout=self.timeout,
            fetch_output=self.fetch_output,
            log=self.log,
            succeeded=lambda ref: self._record(context, name, ref.viewer_url, ref.triggered_at, succeeded=True),
        )

    def _state(self, context: Context) -> TaskState:
        """Where the run's identity is kept until the run ends (``context["task_state_store"]``, Airflow 3.3+)."""
        return task_state(context.get("task_state_store") if hasattr(context, "get") else None)

    def _trigger(self, name: str, data: Any) -> TriggerResult:
        return self.hook.trigger_automation(name, data)

    def _record(
        self,
        context: Context,
        name: str,
        viewer_url: str | None,
        triggered_at: DateTime | None,
        *,
        result: TriggerResult | None = None,
        succeeded: bool = False,
    ) -> None:
        """Push the viewer link and trigger time and say what happened (``_record.record``); the link is kept."""
        self._viewer_url = viewer_url
        record(
            context["ti"],
            self.log,
            self.axiom_conn_id,
            self.hook,
            name,
            viewer_url,
            triggered_at,
            result=result,
            succeeded=succeeded,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after :class:`AxiomRunTrigger`: return the output, or raise (unknown events fail)."""
        if stale_event(context, event):
            self.log.info("axiom.ai: this try resumed with an earlier try's event; starting over")
            return self.execute(context)
        if isinstance(event, dict):
            link = run_field(event, "viewer_url")
            if link and not whole_link(link):  # the trigger masked its password: restore it from our record
                event = link_restored(event, self._recorded_link(context))
                link = run_field(event, "viewer_url")
            if whole_link(link) or not link:  # known, or known to be none (else AxiomRunLink reads XCom)
                mask_secret(viewer_password(link))  # a new worker process after the deferral
                self._link_known, self._viewer_url = True, link
        try:
            return complete_from_event(event, stop=self._stop_event)
        finally:
            # An "error" event leaves the run possibly running (or its rows unread): a retry re-attaches to it.
            if settles_run(event):
                self._state(context).delete()

    def _recorded_link(self, context: Context) -> str | None:
        """The viewer link this task recorded before deferring (``_record``): this instance's, or its XCom."""
        if getattr(self, "_viewer_url", None):
            return self._viewer_url
        ti = context.get("ti") if hasattr(context, "get") else None
        if ti is None:
            return None
        try:
            link = ti.xcom_pull(task_ids=ti.task_id, key=XCOM_VIEWER_URL, map_indexes=ti.map_index)
        except Exception as err:  # the link stays masked: the run's result does not depend on it
            self.log.warning("axiom.ai: could not read this task's viewer link from XCom: %r", err)
            return None
        return link if isinstance(link, str) else None

    def _stop_event(self, event: dict[str, Any]) -> bool:
        return self._stop(run_field(event, "viewer_url"), run_field(event, "run_id"), "timeout")

    def _stop(self, viewer_url: str | None, run_id: str | None, why: str) -> bool:
        with stopping_hook(self.axiom_conn_id, self.hook.clock) as hook:
            return stop_remote_run(hook, str(self.automation_name), why, viewer_url=viewer_url, run_id=run_id)

    def on_kill(self) -> None:
        """The task was killed while waiting in the worker: stop the remote run (bounded, best effort)."""
        if self._ref is not None and (self._ref.viewer_url or self._ref.run_id):
            self._stop(self._ref.viewer_url, self._ref.run_id, "task killed")
