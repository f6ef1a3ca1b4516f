"""How far back ``/run-reports`` is read: the report window, widened while the oldest run waited for may lie
further back, narrowed again once it has ended. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from pendulum import DateTime

from airflow_provider_axiom.results import RunReport

#: Reports read per look at first; widened x5 while the oldest run waited for may lie further back.
REPORT_WINDOW = 20
#: The widest read: the most reports one ``/run-reports`` call is asked for.
MAX_REPORT_WINDOW = 2500


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
