"""Run identity and location: which run in ``/run-reports`` is the one a task waits for. Pure.

The API's documented surface has no run id: ``/run-data`` answers for the *latest* run of a name,
and a report carries only the name, status, text and second-resolution times. So a task's run is
recognised by **when it was created**, and this module holds the whole rule, for the shared poller
and the single sync look alike:

- **A window per trigger.** A ``/trigger`` answered with a viewer link started its run between the
  request leaving and the answer coming back: its report's ``created_at`` lies in ``[not_before,
  not_after]`` (the round trip, widened by the timestamps' resolution and ``clock_tolerance``). A
  queued trigger's run starts later, so its window is open-ended; a sensor waits for the *first* run
  at or after ``started_after``.
- **Closed windows decide.** A run may be listed a few seconds late, so a window is only read as
  final once the reports reach back past it and ``late`` has passed since it closed (a queued
  trigger's window: once the automation has been idle for ``queue_idle``, the longest the API's
  queue takes to start a queued run).
- **Runs are assigned to their triggers together.** Every run belongs to exactly one trigger, so the
  triggers of one automation waited for in one place are matched to runs jointly: a run that only
  one trigger can own is its own, and it is struck from the others. A trigger is *certain* of a run
  only when every consistent assignment gives it that run; otherwise it is *ambiguous* between the
  runs it could own, and reports an outcome only when they all ended the same way, never their
  times or rows.
- **Rows only when provably its own.** With a run id the API has shown it reads (``_run_ids``), they
  are read by id, and every rule here is given the ref with its id; otherwise the ref without it, so an
  unproven id changes nothing. Without one, only while
  the run is the newest of its name, and only if a read of the reports taken after the ``/run-data``
  answer still lists it as the newest (the rule and its state machine: ``_completion.rows``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

from pendulum import DateTime

from airflow_provider_axiom._protocol import iso, run_state, says_finished, to_datetime
from airflow_provider_axiom._run_state import RunState
from airflow_provider_axiom.results import RunData, RunReport, TriggerResult

log = logging.getLogger(__name__)

#: The API's timestamps are whole seconds.
RESOLUTION = timedelta(seconds=1)
#: Default slack between the server's ``Date`` header and the clock of its run reports.
DEFAULT_TOLERANCE = timedelta(seconds=2)
#: How long after a trigger a run may still appear in reports (the connection's ``trigger_check_window``).
DEFAULT_LATE = timedelta(seconds=10)
#: How long an automation must be idle before a queued trigger's run is surely among those seen:
#: the docs say a queued run is retried every five minutes and starts within ten.
DEFAULT_QUEUE_IDLE = timedelta(minutes=10)

#: Same-name triggers from one process leave this far apart: their runs' windows (a round trip of up to
#: a second, widened by the resolution and the tolerance on both sides) then never overlap.
TRIGGER_SPACING = RESOLUTION + 2 * DEFAULT_TOLERANCE + timedelta(seconds=1)

#: Reports read per look at first; widened x5 while the oldest run waited for may lie further back.
REPORT_WINDOW = 20
MAX_REPORT_WINDOW = 2500

RefKind = Literal["trigger", "queued", "first_since"]
_KINDS: dict[str, RefKind] = {"trigger": "trigger", "queued": "queued", "first_since": "first_since"}
#: Why a result has no rows: a newer run of the name hides this one's, the run could not be told
#: apart from others, the run failed, the rows were not asked for, or (an asset watcher's event
#: only; a task fails instead) the API's errors kept them from being read.
DataUnavailable = Literal["superseded", "ambiguous_run", "not_requested", "run_failed", "unreadable"]


@dataclass(frozen=True)
class Rules:
    """How long to wait before a window is read as final (from the connection's settings)."""

    late: timedelta = DEFAULT_LATE
    queue_idle: timedelta = DEFAULT_QUEUE_IDLE

    @classmethod
    def from_settings(cls, settings: Any) -> Rules:
        """From a connection's ``trigger_check_window`` and ``queue_idle_window`` (seconds)."""
        return cls(
            late=timedelta(seconds=float(settings.trigger_check_window)),
            queue_idle=timedelta(seconds=float(settings.queue_idle_window)),
        )


@dataclass(frozen=True)
class RunRef:
    """What identifies the run a task waits for: a value with its own JSON round trip.

    ``kind`` is ``trigger`` (a run started by a ``/trigger`` answered with a viewer link: created in
    ``[not_before, not_after]``), ``queued`` (a queued trigger: created at or after ``not_before``)
    or ``first_since`` (a sensor: the first run created at or after ``not_before``).
    """

    automation_name: str
    not_before: DateTime
    kind: RefKind = "first_since"
    not_after: DateTime | None = None
    run_id: str | None = None
    viewer_url: str | None = None
    triggered_at: DateTime | None = None
    attempt: int | None = None
    created_at: DateTime | None = None  # pinned once the run is certain

    @classmethod
    def from_trigger(
        cls, result: TriggerResult, tolerance: timedelta = DEFAULT_TOLERANCE, *, attempt: int | None = None
    ) -> RunRef:
        """The run a ``/trigger`` answer started (or queued)."""
        queued = result.status == "queued"
        return cls(
            automation_name=result.automation_name,
            not_before=result.sent_at - RESOLUTION - tolerance,
            kind="queued" if queued else "trigger",
            not_after=None if queued else result.triggered_at + tolerance,
            run_id=result.run_id,
            viewer_url=result.viewer_url,
            triggered_at=result.triggered_at,
            attempt=attempt,
        )

    @classmethod
    def first_since(
        cls,
        automation_name: str,
        started_after: DateTime,
        tolerance: timedelta = DEFAULT_TOLERANCE,
        *,
        viewer_url: str | None = None,
        attempt: int | None = None,
    ) -> RunRef:
        """A sensor's run: the first one of ``automation_name`` created at or after ``started_after``."""
        return cls(
            automation_name,
            started_after - tolerance,
            viewer_url=viewer_url,
            triggered_at=started_after,
            attempt=attempt,
        )

    @property
    def anchor(self) -> DateTime:
        """The earliest creation time the run can have: pinned ``created_at``, else ``not_before``."""
        return self.created_at or self.not_before

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable (timestamps as ISO 8601)."""
        return {
            "automation_name": self.automation_name,
            "not_before": iso(self.not_before),
            "kind": self.kind,
            "not_after": iso(self.not_after),
            "run_id": self.run_id,
            "viewer_url": self.viewer_url,
            "triggered_at": iso(self.triggered_at),
            "attempt": self.attempt,
            "created_at": iso(self.created_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRef:
        """Rebuild a ref saved with :meth:`to_dict`."""

        def when(key: str) -> DateTime | None:
            return to_datetime(data[key], key) if data.get(key) else None

        kind = _KINDS.get(str(data.get("kind") or "first_since"))
        if kind is None:
            raise ValueError(f"unknown run reference kind {data.get('kind')!r}")
        not_before = when("not_before")
        if not_before is None:
            raise ValueError("a run reference needs not_before")
        return cls(
            automation_name=str(data["automation_name"]),
            not_before=not_before,
            kind=kind,
            not_after=when("not_after"),
            run_id=data.get("run_id") or None,
            viewer_url=data.get("viewer_url") or None,
            triggered_at=when("triggered_at"),
            attempt=data.get("attempt"),
            created_at=when("created_at"),
        )

    def contains(self, created_at: DateTime) -> bool:
        """Whether a run created at ``created_at`` may be this one (by its window alone)."""
        if created_at < self.not_before:
            return False
        return self.not_after is None or created_at <= self.not_after


@dataclass(frozen=True)
class RunObservation:
    """One look at a task's run.

    ``state`` is the run's state once it is certain (``report`` is then its report), or, when the
    task's run could be any of ``candidates``: ``RUNNING`` while one of them runs, their common
    outcome once all ended alike, or ``CONFLICT`` when they ended differently. ``WAITING``: not
    seen yet, or not yet certain. The wait is done when ``state.ends_wait``.
    """

    state: RunState
    report: RunReport | None = None
    is_newest: bool = False
    raw_status: str | None = None
    candidates: tuple[RunReport, ...] = ()
    by_id: bool = False  # read by a run id the API has shown it reads

    @property
    def certain(self) -> bool:
        """Whether the run is provably the task's own."""
        return self.report is not None


def first_run_since(reports: Sequence[RunReport], name: str, not_before: DateTime) -> RunReport | None:
    """The first run of ``name`` created at or after ``not_before`` (whoever started it)."""
    candidates = [r for r in reports if r.task_name == name and r.created_at >= not_before]
    return min(candidates, key=lambda r: r.created_at) if candidates else None


def reaches(oldest: DateTime | None, full: bool, since: DateTime) -> bool:
    """Whether a read whose oldest report is ``oldest`` (``full``: it held as many as asked) holds every
    run created at or after ``since``."""
    return not full or oldest is None or oldest < since


def wider(window: int) -> int:
    """The next report window when the oldest run waited for may lie further back."""
    return min(MAX_REPORT_WINDOW, window * 5)


def narrower(window: int, reports: Sequence[RunReport], anchors: Sequence[DateTime]) -> int:
    """A smaller window again once the runs that needed the wide one have ended."""
    if window <= REPORT_WINDOW or not anchors:
        return window
    needed = sum(1 for r in reports if r.created_at >= min(anchors))
    return max(REPORT_WINDOW, window // 5) if needed * 2 < window // 5 else window


def _same_second(a: DateTime, b: DateTime) -> bool:
    return abs((a - b).total_seconds()) < RESOLUTION.total_seconds()


def _newest(created_at: DateTime, mine: Sequence[RunReport]) -> bool:
    """Whether no run of the name (``mine``) was created after ``created_at``'s second."""
    return all(r.created_at <= created_at or _same_second(r.created_at, created_at) for r in mine)


def _closed(ref: RunRef, mine: Sequence[RunReport], candidates: Sequence[int], *, now: DateTime, rules: Rules) -> bool:
    """Whether every run ``ref`` could own is already listed (the window is final)."""
    if ref.kind == "trigger":
        assert ref.not_after is not None
        return now >= ref.not_after + RESOLUTION + rules.late
    if ref.kind == "first_since":
        if not candidates:
            return False
        first = min(mine[i].created_at for i in candidates)
        return now >= first + RESOLUTION + rules.late
    # queued: the automation has been idle long enough for every queued run of it to have started
    if not candidates or not all(run_state(mine[i].status).over for i in candidates):
        return False
    if any(not run_state(r.status).over for r in mine):
        return False
    last = max((r.updated_at or r.created_at) for r in mine)
    return now >= last + rules.queue_idle


def _can_match(options: list[list[int]], fixed: dict[int, int]) -> bool:
    """Whether every ref in ``options`` can get a distinct report of its own, given ``fixed`` ref -> report."""
    taken = {report: ref for ref, report in fixed.items()}

    def place(ref: int, seen: set[int]) -> bool:
        for report in options[ref]:
            if report in seen:
                continue
            seen.add(report)
            holder = taken.get(report)
            if holder is None or (holder not in fixed and place(holder, seen)):
                taken[report] = ref
                return True
        return False

    return all(ref in fixed or place(ref, set()) for ref in range(len(options)))


def match(
    refs: Sequence[RunRef],
    reports: Sequence[RunReport],
    *,
    now: DateTime,
    oldest: DateTime | None,
    full: bool,
    rules: Rules = Rules(),
    claimed: Sequence[DateTime] = (),
) -> list[tuple[RunRef, RunObservation]]:
    """Find each ref's run among ``reports`` (pure): the refs, pinned once certain, and what was seen.

    ``refs`` may name several automations; ``reports`` is one read of ``/run-reports`` (``oldest`` its
    oldest creation time, ``full`` whether it held as many reports as asked). ``claimed`` are the
    creation times of runs already known to be other waiters' (refs that finished), struck from the
    candidates of every unpinned trigger.
    """
    by_name: dict[str, list[RunReport]] = {}
    for report in reports:
        by_name.setdefault(report.task_name, []).append(report)
    results: dict[int, tuple[RunRef, RunObservation]] = {}
    groups: dict[str, list[int]] = {}
    for i, ref in enumerate(refs):
        groups.setdefault(ref.automation_name, []).append(i)
    for name, members in groups.items():
        mine = by_name.get(name, [])
        for i, (ref, obs) in zip(
            members,
            _match_name(
                [refs[i] for i in members], mine, now=now, oldest=oldest, full=full, rules=rules, claimed=claimed
            ),
            strict=True,
        ):
            results[i] = (ref, obs)
    return [results[i] for i in range(len(refs))]


def _match_name(
    refs: list[RunRef],
    mine: list[RunReport],
    *,
    now: DateTime,
    oldest: DateTime | None,
    full: bool,
    rules: Rules,
    claimed: Sequence[DateTime],
) -> list[tuple[RunRef, RunObservation]]:
    pinned = [ref.created_at for ref in refs if ref.created_at is not None and ref.kind != "first_since"]
    taken = [*pinned, *claimed]

    def free(i: int) -> bool:
        return not any(_same_second(mine[i].created_at, t) for t in taken)

    candidates: list[list[int]] = []
    closed: list[bool] = []
    for ref in refs:
        if ref.created_at is not None:
            candidates.append([i for i, r in enumerate(mine) if _same_second(r.created_at, ref.created_at)])
            closed.append(True)
            continue
        if ref.kind == "first_since":  # a sensor: the first run since, whoever started it; it claims nothing
            first = first_run_since(mine, ref.automation_name, ref.not_before)
            cands = [
                i
                for i, r in enumerate(mine)
                if first is not None and r.created_at >= ref.not_before and _same_second(r.created_at, first.created_at)
            ]
        else:
            cands = [i for i, r in enumerate(mine) if ref.contains(r.created_at) and free(i)]
        candidates.append(cands)
        complete = reaches(oldest, full, ref.not_before)
        closed.append(complete and _closed(ref, mine, cands, now=now, rules=rules))
    possible = _possible(refs, candidates, closed)
    out: list[tuple[RunRef, RunObservation]] = []
    for ref, cands, is_closed, poss in zip(refs, candidates, closed, possible, strict=True):
        out.append(_observe(ref, mine, cands, is_closed, poss))
    return out


def _possible(refs: list[RunRef], candidates: list[list[int]], closed: list[bool]) -> list[list[int]]:
    """For each closed ref, the reports it owns in at least one assignment of runs to every closed ref.

    Only closed refs (whose run is surely listed) must be matched; an open ref may still own a run
    not yet listed. Pinned refs and sensors keep their candidates; when no assignment exists at all
    (a run hidden by the API, say), nothing is struck.
    """
    matched = [
        i
        for i, ref in enumerate(refs)
        if closed[i] and candidates[i] and ref.kind != "first_since" and ref.created_at is None
    ]
    options = [candidates[i] for i in matched]
    # pinned runs were struck from the others' candidates already; only closed unpinned refs compete
    possible = [list(c) for c in candidates]
    if not options or not _can_match(options, {}):
        return possible
    for slot, i in enumerate(matched):
        possible[i] = [report for report in options[slot] if _can_match(options, {slot: report})]
    return possible


def _observe(
    ref: RunRef, mine: list[RunReport], cands: list[int], closed: bool, possible: list[int]
) -> tuple[RunRef, RunObservation]:
    if ref.created_at is not None and not cands:
        log.debug(
            "axiom.ai: the run of %r created at %s is not among the reports read", ref.automation_name, ref.created_at
        )
        return ref, RunObservation(RunState.WAITING, raw_status="not in run reports")
    if not closed or not possible:
        # not final yet: say whether something of ours may be running, but decide nothing
        running = any(not run_state(mine[i].status).over for i in cands)
        return ref, RunObservation(RunState.RUNNING if running and len(cands) == 1 else RunState.WAITING)
    if len(possible) == 1:
        found = mine[possible[0]]
        ref = replace(ref, created_at=found.created_at)
        newest = _newest(found.created_at, mine)
        return ref, RunObservation(run_state(found.status), found, is_newest=newest, raw_status=found.status)
    runs = tuple(sorted((mine[i] for i in possible), key=lambda r: r.created_at))
    states = {run_state(r.status) for r in runs}
    if not all(s.over for s in states):
        return ref, RunObservation(RunState.RUNNING, candidates=runs, raw_status="ambiguous")
    state = states.pop() if len(states) == 1 else RunState.CONFLICT
    return ref, RunObservation(state, candidates=runs, raw_status="ambiguous")


def needs_deep_look(ref: RunRef, obs: RunObservation, *, complete: bool, window: int) -> bool:
    """Whether the run can only be found beyond the widest report window.

    Only a pinned run (or one with a run id) is looked up there: the latest run of its name is then
    surely it when no run of that name is among the reports read.
    """
    return (
        window >= MAX_REPORT_WINDOW
        and obs.report is None
        and not complete
        and (ref.created_at is not None or ref.run_id is not None)
    )


def deep_observation(ref: RunRef, run: RunData, *, listed: bool) -> RunObservation | None:
    """What ``/run-data`` of the name (or of the run id) says of a run beyond the widest window.

    Without a run id, it describes the pinned run only when no run of the name is ``listed``
    among the reports read (none newer started).
    """
    if ref.run_id is None and (listed or ref.created_at is None):
        return None
    state = run_state(run.status)
    if not state.over:
        return None
    by_id = ref.run_id is not None
    return RunObservation(state, None, is_newest=not by_id, raw_status=run.status, by_id=by_id)


def rows_unavailable(ref: RunRef, obs: RunObservation) -> DataUnavailable | None:
    """Why a successful run's rows cannot be read as its own, or None when they may be read."""
    if ref.run_id is not None:
        return None
    if not obs.certain and obs.candidates:
        return "ambiguous_run"
    if not obs.is_newest:
        return "superseded"
    return None


def same_outcome(run: RunData, state: RunState) -> bool:
    """Whether ``/run-data``'s answer can describe a run that ended in ``state`` (it answers for the latest run)."""
    if says_finished(run.status):
        return state.over  # an older surface answers "Finished" for both outcomes
    return run_state(run.status) == state
