"""Who the key's poller serves: a run waited for (a :class:`Waiter`), or a reader of every tick's reports
(a :class:`ReportListener`: an asset watcher, a held trigger). Both join and leave the poller the same way."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pendulum import DateTime

from airflow_provider_axiom._completion.notices import Done, Inbox, Notice
from airflow_provider_axiom._completion.rows import RowsRead
from airflow_provider_axiom._matching import DataUnavailable, RunObservation
from airflow_provider_axiom._run_ref import RunRef
from airflow_provider_axiom.exceptions import AxiomError
from airflow_provider_axiom.results import RunReport

Phase = Literal["watching", "reading", "confirming", "done"]


@dataclass(eq=False)
class Waiter:
    """One run being waited for, as the poller sees it."""

    ref: RunRef
    deadline: DateTime
    poll_interval: float = 5.0
    max_consecutive_errors: int = 5
    fetch_output: bool = True
    phase: Phase = "watching"
    obs: RunObservation | None = None
    rows: dict[str, Any] | None = None
    unavailable: DataUnavailable | None = None
    error: AxiomError | None = None
    timed_out: bool = False
    crash: BaseException | None = None  # the poller died: re-raised in the waiter, never a hang
    failures: int = 0  # failed looks or reads in a row
    output: RowsRead | None = None  # its rows, being read and confirmed
    ended_seen: int = 0  # run id: ended runs in its window at the last read by id
    by_id: bool = False  # its run id is read by the API (proven for the key): the rules see the id
    id_refused: bool = False  # a read by its run id was refused (expired?): by name from then on
    #: What the poller has to say about this run: said by the wait itself, in its own task's log
    notices: Inbox[Notice] = field(default_factory=Inbox)
    done: Done = field(init=False)

    def __post_init__(self) -> None:
        self.done = Done(self.notices)  # wakes the wait for its notices too

    def tell(self, level: int, msg: str, *args: Any) -> None:
        """Say ``msg`` in this run's task log (posted here; its wait logs it, never the poller's task)."""
        self.notices.post(Notice(level, msg, args))

    def finish(
        self,
        obs: RunObservation | None = None,
        *,
        error: AxiomError | None = None,
        rows: dict[str, Any] | None = None,
        unavailable: DataUnavailable | None = None,
    ) -> None:
        self.obs = obs if obs is not None else self.obs
        self.error, self.rows, self.unavailable = error, rows, unavailable
        self.phase = "done"
        self.done.set()

    def failed(self, err: AxiomError, what: str) -> bool:
        """Count a failed look or read; True when the waiter has had enough (it is then finished)."""
        self.failures += 1
        if err.retryable and self.failures < self.max_consecutive_errors:
            say_retry(self.tell, what, self.failures, self.max_consecutive_errors, err)
            return False
        self.finish(error=err)
        return True


def say_retry(tell: Any, what: str, failures: int, most: int, err: AxiomError) -> None:
    tell(logging.WARNING, "axiom.ai: %s failed (%d/%d), trying again: %s", what, failures, most, err)


class ReportListener(Protocol):
    """Something that reads every tick's run reports without waiting for one run (an asset watcher).

    It joins the poller as a waiter does (:meth:`KeyPoller.join`); while it is a member it keeps the
    poller ticking.
    """

    poll_interval: float

    def reach(self) -> DateTime | None:
        """The oldest ``created_at`` the read must reach back to (None: the latest reports will do)."""

    def on_reports(self, reports: list[RunReport], complete: bool, sent: float) -> None:
        """One tick's reports, newest first; ``complete``: the read reaches back past :meth:`reach`;
        ``sent``: when the read was sent (the clock's ``monotonic``)."""

    def on_error(self, error: BaseException) -> None:
        """The tick's read failed (an ``AxiomError``), or the poller died (anything else)."""


Member = Waiter | ReportListener


def say_no_rows(tell: Any, name: str, why: DataUnavailable | None) -> None:
    """Tell the run's own task why it has no rows (in its log, said by its wait)."""
    if why == "superseded":
        tell(
            logging.WARNING,
            "axiom.ai: the run of %r succeeded, but a newer run of it started since, and the API shows only "
            "the newest run's output: data is None (data_unavailable='superseded')",
            name,
        )
    elif why == "ambiguous_run":
        tell(
            logging.WARNING,
            "axiom.ai: this task's run of %r cannot be told apart from other runs started within the same "
            "seconds; they all succeeded, so the task succeeds without rows (data_unavailable='ambiguous_run')",
            name,
        )
