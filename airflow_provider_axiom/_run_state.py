"""The states of a run, and the one rule of when a run is over. Pure; imports nothing of the package.

A run's state is a :class:`RunState`. The API's words (``Running``/``Success``/``Failure`` and
their variants, from ``/run-reports`` and ``/run-data``) are mapped to it once, at the protocol
edge (:func:`airflow_provider_axiom._protocol.run_state`); everything past that edge reads the
members and their properties, never the words.

A ``RunState`` is a ``str`` whose value is the lower-case name (``"success"``): it compares equal
to that string, and where it leaves the process (event payloads, XCom values, trigger kwargs) its
``.value`` is written, so what is stored stays the plain string it always was.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["OUTCOMES", "RunState"]


class RunState(str, Enum):
    """A run's state as the provider reads it.

    ``RUNNING``, ``SUCCESS``, ``FAILURE`` and ``UNKNOWN`` (a status the provider cannot read, shown
    rather than guessed) are what the API's words map to. ``WAITING`` (the task's run is not seen,
    or not yet certain) and ``CONFLICT`` (the task's run is one of several started within the same
    seconds, which ended differently) are what a wait can see besides; no API word maps to them.
    """

    WAITING = "waiting"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    CONFLICT = "conflict"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        # The value, never "RunState.SUCCESS", in str(), f-strings and %-formatting, on every Python.
        return self.value

    def __format__(self, format_spec: str) -> str:
        return format(self.value, format_spec)

    @property
    def over(self) -> bool:
        """Whether the run has ended with an outcome: ``SUCCESS`` or ``FAILURE`` (the one "is it over" rule)."""
        return self in _OVER

    @property
    def succeeded(self) -> bool:
        """Whether the run ended in success."""
        return self is RunState.SUCCESS

    @property
    def ends_wait(self) -> bool:
        """Whether a wait that sees this state is done: the run is over, or there is nothing to wait for.

        Besides an ended run: ``CONFLICT`` (every run it could be ended, but not alike: which way it
        went cannot be told) and ``UNKNOWN`` (a status no rule reads: reported, not waited out).
        """
        return self.over or self in (RunState.CONFLICT, RunState.UNKNOWN)


_OVER = frozenset({RunState.SUCCESS, RunState.FAILURE})

#: The outcomes of an ended run, in this order (the asset watcher fires on them, the event carries them).
OUTCOMES: tuple[RunState, ...] = tuple(state for state in RunState if state.over)
