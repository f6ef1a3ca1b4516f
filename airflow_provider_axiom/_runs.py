"""Which run is ours, what state it is in, and what it produced: shared by the operator, sensor and trigger.

The API has no documented run id: ``/run-data`` answers for the *latest* run of a name, which
right after a trigger can still be the previous run. So the run a task waits for is found in
``/run-reports``: the **oldest** report of the automation created at or after ``not_before``
(server time, taken from the ``/trigger`` answer). The oldest, not the newest, because a newer
one is a run somebody else started after ours. Once found, the run is pinned by its
``created_at``. ``/run-data`` is read for the output only once that run is terminal *and* still
the newest run of its name; otherwise its output is no longer readable and is reported as
missing rather than borrowed from another run. When the API hands out a ``run_id``,
``/run-data`` is asked for that run directly.

Polling goes through :class:`RunWatcher`, whose only I/O is a ``reports`` source and the hook's
``/run-data``. A later version can hand every watcher of one key a shared source (one
``/run-reports`` call per tick, fanned out) without touching the operator, sensor or trigger.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import pendulum
from pendulum import DateTime

from airflow_provider_axiom._core import RunData, RunReport, TriggerResult, iso, oldest_run_since, run_state, utcnow
from airflow_provider_axiom.exceptions import AxiomApiError, AxiomError, AxiomRunFailedError, AxiomRunTimeoutError

if TYPE_CHECKING:
    from airflow_provider_axiom.hooks.axiom import AxiomHook

log = logging.getLogger(__name__)

#: Reports read per poll: enough to find our run behind a few newer runs of other automations.
REPORT_WINDOW = 20
#: When that window is full of runs newer than ours, it is widened (x5) up to this many reports.
MAX_REPORT_WINDOW = 500
#: Default slack between our clock estimate and the API's second-resolution timestamps.
DEFAULT_TOLERANCE = timedelta(seconds=2)

WatchState = Literal["waiting", "running", "success", "failure", "unknown"]


def to_datetime(value: Any, field_name: str = "timestamp") -> DateTime:
    """A UTC pendulum DateTime from a DateTime, datetime or ISO 8601 string."""
    if isinstance(value, DateTime):
        return value.in_timezone("UTC")
    if hasattr(value, "tzinfo") and hasattr(value, "isoformat"):
        parsed = pendulum.instance(value)
    elif isinstance(value, str) and value.strip():
        try:
            parsed = pendulum.parse(value.strip())
        except (ValueError, pendulum.parsing.exceptions.ParserError) as exc:
            raise ValueError(f"{field_name}: {value!r} is not an ISO 8601 timestamp") from exc
        if not isinstance(parsed, DateTime):
            raise ValueError(f"{field_name}: {value!r} is not a date and time")
    else:
        raise ValueError(f"{field_name}: expected a datetime or ISO 8601 string, got {type(value).__name__}")
    return parsed.in_timezone("UTC")


@dataclass(frozen=True)
class RunRef:
    """How to recognise the run a task waits for."""

    automation_name: str
    not_before: DateTime
    run_id: str | None = None
    viewer_url: str | None = None
    created_at: DateTime | None = None  # pinned once the run is found

    @classmethod
    def from_trigger(cls, result: TriggerResult, tolerance: timedelta = DEFAULT_TOLERANCE) -> RunRef:
        return cls(
            automation_name=result.automation_name,
            not_before=result.sent_at - tolerance,
            run_id=result.run_id,
            viewer_url=result.viewer_url,
        )


@dataclass(frozen=True)
class RunObservation:
    """One look at the run: its state, its report (once visible) and whether it is the newest of its name."""

    state: WatchState
    report: RunReport | None = None
    is_newest: bool = False
    raw_status: str | None = None

    @property
    def terminal(self) -> bool:
        return self.state in ("success", "failure")


def _same_second(a: DateTime, b: DateTime) -> bool:
    return abs((a - b).total_seconds()) < 1.0


def observe(ref: RunRef, reports: Sequence[RunReport]) -> tuple[RunRef, RunObservation]:
    """Find ``ref``'s run in ``reports`` (pure). Returns the ref, pinned once found, and what was seen."""
    mine = [r for r in reports if r.task_name == ref.automation_name]
    if ref.created_at is not None:
        found = next((r for r in mine if _same_second(r.created_at, ref.created_at)), None)
        if found is None:
            log.warning(
                "axiom.ai: the run of %r created at %s is no longer among the latest run reports",
                ref.automation_name,
                ref.created_at,
            )
            return ref, RunObservation("waiting", raw_status="not in run reports")
    else:
        found = oldest_run_since(mine, ref.automation_name, ref.not_before)
        if found is None:
            return ref, RunObservation("waiting")
        ref = replace(ref, created_at=found.created_at)
    newest = all(r.created_at <= found.created_at or _same_second(r.created_at, found.created_at) for r in mine)
    state = run_state(found.status)
    return ref, RunObservation(state, found, is_newest=newest, raw_status=found.status)


def _from_run_data(run: RunData) -> RunObservation:
    return RunObservation(run_state(run.status), is_newest=True, raw_status=run.status)


ReportsSource = Callable[[int], Awaitable[list[RunReport]]]
SyncReportsSource = Callable[[int], list[RunReport]]


class RunWatcher:
    """Polls one run. Call :meth:`poll` (or :meth:`apoll`) each tick; :meth:`output` once it is terminal."""

    def __init__(
        self,
        hook: AxiomHook,
        ref: RunRef,
        *,
        reports: SyncReportsSource | None = None,
        areports: ReportsSource | None = None,
    ) -> None:
        self.hook = hook
        self.ref = ref
        self._reports = reports or hook.get_run_reports
        self._areports = areports or hook.aget_run_reports
        self._run_data: RunData | None = None
        #: How many reports each poll reads; widened when the run is further back.
        self.window = REPORT_WINDOW

    # -- polling

    def _window_too_short(self, reports: list[RunReport], obs: RunObservation) -> bool:
        """True when the run was not seen and every report read is newer than it can be."""
        if obs.report is not None or len(reports) < self.window or self.window >= MAX_REPORT_WINDOW:
            return False
        oldest = min(r.created_at for r in reports)
        return oldest >= (self.ref.created_at or self.ref.not_before)

    def _widen(self) -> None:
        self.window = min(MAX_REPORT_WINDOW, self.window * 5)
        log.info(
            "axiom.ai: reading the latest %d run reports to find the run of %r", self.window, self.ref.automation_name
        )

    def _look(self, reports: list[RunReport]) -> RunObservation | None:
        """Observe the run in ``reports``; None (after widening the window) when it may lie further back."""
        self.ref, obs = observe(self.ref, reports)
        if self._window_too_short(reports, obs):
            self._widen()
            return None
        return obs

    def poll(self) -> RunObservation:
        if self.ref.run_id:
            self._run_data = self.hook.get_run_data(run_id=self.ref.run_id)
            return self._with_report(_from_run_data(self._run_data), self._reports(self.window))
        while (obs := self._look(self._reports(self.window))) is None:
            pass
        return obs

    async def apoll(self) -> RunObservation:
        if self.ref.run_id:
            self._run_data = await self.hook.aget_run_data(run_id=self.ref.run_id)
            return self._with_report(_from_run_data(self._run_data), await self._areports(self.window))
        while (obs := self._look(await self._areports(self.window))) is None:
            pass
        return obs

    def _with_report(self, obs: RunObservation, reports: list[RunReport]) -> RunObservation:
        # With a run_id the status comes from /run-data; the report adds the description.
        self.ref, seen = observe(self.ref, reports) if obs.terminal else (self.ref, RunObservation("waiting"))
        return replace(obs, report=seen.report) if seen.report else obs

    # -- output

    def _check_output(self, obs: RunObservation, run: RunData) -> dict[str, Any] | None:
        # An older surface answers "Finished" for both outcomes: still this run, since it is the newest.
        if run.status.strip().lower() == "finished" and obs.terminal:
            return run.data
        if run_state(run.status) != obs.state:
            log.warning(
                "axiom.ai: /run-data for %r says %r while this run is %r: another run is now the latest, "
                "so this run's output is not available",
                self.ref.automation_name,
                run.status,
                obs.raw_status,
            )
            return None
        return run.data

    def output(self, obs: RunObservation) -> dict[str, Any] | None:
        """This run's output rows (writer token -> rows), or None when they can no longer be read."""
        if self.ref.run_id and self._run_data is not None:
            return self._run_data.data
        if not self._output_readable(obs):
            return None
        return self._check_output(obs, self.hook.get_run_data(self.ref.automation_name))

    async def aoutput(self, obs: RunObservation) -> dict[str, Any] | None:
        """Async :meth:`output`."""
        if self.ref.run_id and self._run_data is not None:
            return self._run_data.data
        if not self._output_readable(obs):
            return None
        return self._check_output(obs, await self.hook.aget_run_data(self.ref.automation_name))

    def _output_readable(self, obs: RunObservation) -> bool:
        if obs.is_newest:
            return True
        log.warning(
            "axiom.ai: a newer run of %r started after this one, so /run-data no longer describes this run; "
            "its output is not available",
            self.ref.automation_name,
        )
        return False


def run_summary(
    ref: RunRef,
    obs: RunObservation,
    *,
    data: dict[str, Any] | None,
    triggered_at: DateTime | str | None,
) -> dict[str, Any]:
    """The JSON-serialisable result the operator and sensor return (their XCom ``return_value``)."""
    report = obs.report
    return {
        "automation_name": ref.automation_name,
        "status": report.status if report else obs.raw_status,
        "viewer_url": ref.viewer_url,
        "run_id": ref.run_id,
        "triggered_at": iso(triggered_at),
        "started_at": iso(report.created_at if report else ref.created_at),
        "finished_at": iso(report.updated_at if report else None),
        "description": report.description if report else None,
        "data": data,
    }


def failure_error(summary: dict[str, Any]) -> AxiomRunFailedError:
    """The error for a run that ended in ``Failure``, with the report's description and viewer link."""
    return AxiomRunFailedError(
        f"axiom.ai run of {summary['automation_name']!r} failed",
        description=summary.get("description"),
        viewer_url=summary.get("viewer_url"),
        automation_name=summary.get("automation_name"),
    )


def unknown_status_error(ref: RunRef, obs: RunObservation) -> AxiomApiError:
    """A terminal-looking status this provider does not know: fail closed rather than guess."""
    return AxiomApiError(
        f"axiom.ai run of {ref.automation_name!r} reports an unknown status {obs.raw_status!r}",
        hint="Check the run in the axiom.ai dashboard; the API may have changed",
    )


class PollPacer:
    """When to poll next and when to give up, for the worker loop and the trigger alike.

    The documented cadence (``poll_interval`` doubling up to ``max_poll_interval``), never
    sleeping past ``deadline``, and a bounded run of consecutive transient failures.
    """

    def __init__(
        self,
        *,
        deadline: DateTime,
        poll_interval: float,
        max_poll_interval: float,
        max_consecutive_errors: int,
        clock: Callable[[], DateTime] = utcnow,
    ) -> None:
        self.deadline = deadline
        self.interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.max_consecutive_errors = max_consecutive_errors
        self.clock = clock
        self.failures = 0

    def expired(self) -> bool:
        return self.clock() >= self.deadline

    def succeeded(self) -> None:
        self.failures = 0

    def tolerate(self, err: AxiomError) -> bool:
        """Count a failed poll; True to poll again, False to give up (permanent, or too many in a row)."""
        self.failures += 1
        if not err.retryable or self.failures >= self.max_consecutive_errors:
            return False
        log.warning("axiom.ai poll %d/%d failed, polling again: %s", self.failures, self.max_consecutive_errors, err)
        return True

    def next_wait(self) -> float:
        """Seconds to sleep before the next poll (never past the deadline); the interval then doubles."""
        wait = max(0.0, min(self.interval, (self.deadline - self.clock()).total_seconds()))
        self.interval = min(self.max_poll_interval, self.interval * 2)
        return wait


def _cannot_stop(viewer_url: str | None, automation_name: str, why: str) -> bool:
    if viewer_url:
        return False
    log.warning("axiom.ai: cannot stop the run of %r (%s): no viewer URL (it was queued)", automation_name, why)
    return True


def _stop_outcome(automation_name: str, why: str, err: AxiomError | None) -> bool:
    if err is not None:
        log.error("axiom.ai: could not stop the run of %r (%s): %s", automation_name, why, err)
        return False
    log.info("axiom.ai: asked the run of %r to stop (%s)", automation_name, why)
    return True


def stop_remote_run(hook: AxiomHook, viewer_url: str | None, automation_name: str, why: str) -> bool:
    """Best effort, bounded: ask the API to stop a run. Returns whether the request was accepted."""
    if _cannot_stop(viewer_url, automation_name, why):
        return False
    try:
        hook.stop_run(str(viewer_url))
    except AxiomError as err:
        return _stop_outcome(automation_name, why, err)
    return _stop_outcome(automation_name, why, None)


async def astop_remote_run(hook: AxiomHook, viewer_url: str | None, automation_name: str, why: str) -> bool:
    """Async :func:`stop_remote_run`."""
    if _cannot_stop(viewer_url, automation_name, why):
        return False
    try:
        await hook.astop_run(str(viewer_url))
    except AxiomError as err:
        return _stop_outcome(automation_name, why, err)
    return _stop_outcome(automation_name, why, None)


def timeout_error(what: str, stopped: bool) -> AxiomRunTimeoutError:
    """The error for a run that outlived the task's timeout, saying whether it was stopped."""
    return AxiomRunTimeoutError(
        f"{what}; " + ("the run was asked to stop" if stopped else "the run could not be stopped")
    )
