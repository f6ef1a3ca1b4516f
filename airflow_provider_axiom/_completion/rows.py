"""Whether a successful run's rows are its own: one state machine, for waiting tasks and asset watchers alike.

No I/O here, in the style of ``_calls``: the key's poller drives a :class:`RowsRead` (sends its
``/run-data`` read when the read queue gives it a turn, hands it the answer or the error, and hands
it every later read of ``/run-reports``), and the machine says what the read has come to.

``/run-data`` answers by automation name, for the latest run of it, so **the rule** is:

- the read is sent only while the run is the newest of its name (a read that lists a run of the name
  created after the run's second gives up before or after the answer: ``superseded``);
- the answer must describe a run that ended as this one did (:func:`~airflow_provider_axiom._runs.same_outcome`),
  else a newer run is the latest: ``superseded``;
- the rows are the run's own only when a **later** read of ``/run-reports`` (sent after the answer
  came back) still shows the run as the newest of its name: it lists the run (its start time, to the
  second) and no run of the name created after that second (:func:`shows_newest`).

Two reads skip the confirming read: one by a run id the API has shown it reads (the answer is that
run's), and the rule's one variant, a run that lies beyond the widest read (``beyond``, found by a
deep look): no read can list it, so a later read must list no run of its name at all.

States: ``queued`` (waiting for its turn in the read queue, or for ``after_tick`` after a failure)
-> ``reading`` (the ``/run-data`` request is out) -> ``confirming`` (rows held, waiting for a read of
the reports sent after ``answered_at``) -> ``done`` (``rows``, or ``unavailable`` and maybe ``error``).
A retryable failure goes back to ``queued`` for a later tick, up to ``max_failures`` in a row.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pendulum import DateTime

from airflow_provider_axiom._matching import DataUnavailable
from airflow_provider_axiom._run_ref import RESOLUTION
from airflow_provider_axiom._run_state import RunState
from airflow_provider_axiom._runs import same_outcome
from airflow_provider_axiom.exceptions import AxiomError
from airflow_provider_axiom.results import RunData, RunReport

__all__ = ["CONFIRM_READS", "UNREACHED_READS", "Listing", "RowsRead", "RowsState", "newer_listed", "shows_newest"]

RowsState = Literal["queued", "reading", "confirming", "done"]

#: Later reads of the reports that may fail to list the run before its rows are given up as unreadable.
CONFIRM_READS = 5
#: Later reads that stop short of the run (full, newer runs only: the poller widens its reads to reach
#: it) before its rows are given up as unreadable: they say nothing of the run, so they are not misses.
UNREACHED_READS = 60


class Listing:
    """One read of the reports, as the rule asks it: the start times of each name's runs, in order.

    Built once per read, so a read handed to every rows machine waiting (hundreds, at large N) costs a
    look-up each, not a scan of the read. ``full``: the read came back as long as it was asked (older
    runs exist that it does not show)."""

    def __init__(self, reports: Sequence[RunReport], *, full: bool = False) -> None:
        starts: dict[str, list[float]] = {}
        for r in reports:
            starts.setdefault(r.task_name, []).append(r.created_at.timestamp())
        for times in starts.values():
            times.sort()
        self._starts = starts
        self.full = full
        self._oldest = min((t[0] for t in starts.values()), default=None)

    def reaches(self, created_at: DateTime) -> bool:
        """Whether the read shows every run started from ``created_at``'s second on: not full, or its
        oldest report that old. A full read that stops short of it can neither list nor miss the run."""
        if not self.full:
            return True
        return self._oldest is not None and self._oldest - created_at.timestamp() < RESOLUTION.total_seconds()

    def names(self, name: str) -> bool:
        """Whether the read lists any run of ``name``."""
        return name in self._starts

    def newer(self, name: str, created_at: DateTime) -> bool:
        """Whether it lists a run of ``name`` created after ``created_at``'s second."""
        times = self._starts.get(name)
        return times is not None and times[-1] - created_at.timestamp() >= RESOLUTION.total_seconds()

    def lists(self, name: str, created_at: DateTime) -> bool:
        """Whether it lists a run of ``name`` created in ``created_at``'s second (this run)."""
        times, at = self._starts.get(name, []), created_at.timestamp()
        i = bisect.bisect_right(times, at - RESOLUTION.total_seconds())
        return i < len(times) and times[i] - at < RESOLUTION.total_seconds()


def _listing(reports: Sequence[RunReport] | Listing) -> Listing:
    return reports if isinstance(reports, Listing) else Listing(reports)


def newer_listed(name: str, created_at: DateTime, reports: Sequence[RunReport] | Listing) -> bool:
    """Whether ``reports`` list a run of ``name`` created after ``created_at``'s second."""
    return _listing(reports).newer(name, created_at)


def shows_newest(name: str, created_at: DateTime, reports: Sequence[RunReport] | Listing) -> bool:
    """The rule: ``reports`` list the run (to the second) and no run of ``name`` created after its second."""
    listing = _listing(reports)
    return listing.lists(name, created_at) and not listing.newer(name, created_at)


@dataclass(eq=False)
class RowsRead:
    """One run's rows, from the ``/run-data`` read to the confirming read (see the module docstring)."""

    name: str
    created_at: DateTime | None  # None only for a read by run id or beyond the widest read
    expected: RunState = RunState.SUCCESS
    max_failures: int = 5
    beyond: bool = False  # the run lies beyond the widest read (a deep look): see the module docstring
    by_id: bool = False  # read by a run id the API reads: the answer is the run's own
    state: RowsState = "queued"
    after_tick: int = 0  # a failed read goes again on a later tick, not at once
    failures: int = 0
    answered_at: float = float("inf")  # monotonic: confirmed by a read of the reports sent after this
    misses: int = 0  # later reads that reached back to the run and did not list it
    unreached: int = 0  # later reads that stopped short of the run
    rows: dict[str, Any] | None = field(default=None, repr=False)
    unavailable: DataUnavailable | None = None
    error: AxiomError | None = None  # the last failure, when the rows were given up after it

    def sending(self) -> None:
        """The ``/run-data`` read goes out."""
        self.state = "reading"

    def answered(self, run: RunData, at: float) -> None:
        """``/run-data`` answered (``at``: the poller's ``monotonic`` once it came back)."""
        self.failures = 0
        if not self.by_id and self.created_at is None and not self.beyond:
            self._give_up("ambiguous_run")  # by name, with no start time to confirm it by
            return
        if not self.by_id and not same_outcome(run, self.expected):
            self._give_up("superseded")  # /run-data already describes a newer run
            return
        self.rows, self.answered_at = run.data, at
        if self.by_id:
            self._finish()
            return
        self.state = "confirming"

    def failed(self, err: AxiomError, tick: int) -> None:
        """The read failed: again on the tick after ``tick`` if it may, else give up (``unreadable``)."""
        self.failures += 1
        self.error = err
        if err.retryable and self.failures < self.max_failures:
            self.state, self.after_tick = "queued", tick + 1
            return
        self._give_up("unreadable")

    def reports(self, reports: Sequence[RunReport] | Listing, sent: float) -> None:
        """A read of ``/run-reports`` (``sent``: its ``monotonic`` send time); one that stops short of the
        run (:meth:`Listing.reaches`) can supersede it but neither confirm nor miss it."""
        if self.state == "done" or (self.created_at is None and not self.beyond):
            return
        reports = _listing(reports)
        if self.beyond:
            newer = reports.names(self.name)
        else:
            assert self.created_at is not None
            newer = reports.newer(self.name, self.created_at)
        if newer and self.state != "reading":
            self._give_up("superseded")  # before the read (no need for it) or after it (not its rows)
            return
        if self.state != "confirming" or sent < self.answered_at:
            return  # not a later read: only a read sent after the answer confirms it
        if self.beyond or (self.created_at is not None and shows_newest(self.name, self.created_at, reports)):
            self._finish()
            return
        assert self.created_at is not None
        if not reports.reaches(self.created_at):
            self.unreached += 1
            if self.unreached >= UNREACHED_READS:
                self._give_up("unreadable")
            return
        self.misses += 1
        if self.misses >= CONFIRM_READS:
            self._give_up("unreadable")

    @property
    def done(self) -> bool:
        return self.state == "done"

    def _finish(self) -> None:
        self.state, self.unavailable, self.error = "done", None, None

    def _give_up(self, why: DataUnavailable) -> None:
        self.state, self.rows, self.unavailable = "done", None, why
        if why == "superseded":
            self.error = None
