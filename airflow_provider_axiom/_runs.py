"""Run identity: which run in ``/run-reports`` is the one a task waits for. Pure.

The API has no documented run id: ``/run-data`` answers for the *latest* run of a name, which
right after a trigger can still be the previous run. So the run a task waits for is found in
``/run-reports``: the **oldest** report of the automation created at or after ``not_before``
(server time, taken from the ``/trigger`` answer). The oldest, not the newest, because a newer
one is a run somebody else started after ours. Once found, the run is pinned by its
``created_at``. Its output (``/run-data``) is only read while it is still the newest run of its
name; otherwise it is reported as missing rather than borrowed from another run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

from pendulum import DateTime

from airflow_provider_axiom._protocol import oldest_run_since, run_state
from airflow_provider_axiom.results import RunReport, TriggerResult

log = logging.getLogger(__name__)

#: Default slack between our clock estimate and the API's second-resolution timestamps.
DEFAULT_TOLERANCE = timedelta(seconds=2)

WatchState = Literal["waiting", "running", "success", "failure", "unknown"]


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

    @property
    def anchor(self) -> DateTime:
        """The earliest creation time the run can have: pinned ``created_at``, else ``not_before``."""
        return self.created_at or self.not_before


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


def observe(ref: RunRef, reports: Sequence[RunReport], *, complete: bool = True) -> tuple[RunRef, RunObservation]:
    """Find ``ref``'s run in ``reports`` (pure). Returns the ref, pinned once found, and what was seen.

    ``complete`` says whether ``reports`` reach back past ``not_before`` (the window was not full,
    or its oldest report is older). Only then is the oldest candidate surely the oldest run since
    ``not_before``: with more newer runs of the same name than the window holds, the oldest one
    *visible* is somebody else's, so nothing is pinned until a wider read reaches back.
    """
    mine = [r for r in reports if r.task_name == ref.automation_name]
    if ref.created_at is not None:
        found = next((r for r in mine if _same_second(r.created_at, ref.created_at)), None)
        if found is None:
            log.debug(
                "axiom.ai: the run of %r created at %s is not among the run reports read",
                ref.automation_name,
                ref.created_at,
            )
            return ref, RunObservation("waiting", raw_status="not in run reports")
    else:
        found = oldest_run_since(mine, ref.automation_name, ref.not_before)
        if found is None or not complete:
            return ref, RunObservation("waiting")
        ref = replace(ref, created_at=found.created_at)
    newest = all(r.created_at <= found.created_at or _same_second(r.created_at, found.created_at) for r in mine)
    state = run_state(found.status)
    return ref, RunObservation(state, found, is_newest=newest, raw_status=found.status)


def reaches(reports: Sequence[RunReport], window: int, since: DateTime) -> bool:
    """Whether a read of ``window`` reports holds every run created at or after ``since``."""
    return len(reports) < window or min(r.created_at for r in reports) < since
