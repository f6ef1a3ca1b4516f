"""Starting a run when it will start at once: the slot rule, the home of the queue's rules.

axiom.ai runs an account's runs up to its plan's limit at once (Starter and Pro 1, Pro Max 2,
Ultimate 20) and one instance of an automation at a time unless its "Allow cloud concurrency" is
on. A ``/trigger`` beyond that is answered ``queued``; the API retries it every five minutes, and
its run cannot be told from another client's queued run of the same automation until the
automation has been idle for ``queue_idle_window``. A trigger that starts at once has a closed
window and a certain run. So a trigger is held back while the latest run reports show that it
would be queued, and sent when a slot frees:

- **held** while its automation has a ``Running`` report (unless it allows cloud concurrency), or
  while the account has as many ``Running`` reports as its plan's limit (the connection's
  ``concurrent_runs``; unset, only the automation's own runs hold a trigger);
- **never longer than the API's own queue**: past ``max_hold`` after it was first held (ten
  minutes: a queued trigger starts within ten) it is sent anyway, and a queued answer is matched by
  the queue rule (``_matching``);
- **one at a time, in one process**: a trigger let go stands as a *grant* on its automation (and on
  the account's count) until the wait for its run is handed to this process (from then on the rows
  rule holds the automation until that wait has its outcome), or ``HANDOVER`` after its run ended
  (the wait went to another process), or ``GRANT_TTL`` after it while no run of it is listed; the triggers held in one
  triggerer therefore start one after another, each once the one before has its rows.
  Two processes can let go two triggers at the same tick: the later one is queued by the API and
  matched by the queue rule, as without the hold.

Pure but for the per-process memory of grants (:class:`KeySlots`, one per key), and the wait.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from pendulum import DateTime

from airflow_provider_axiom import _metrics
from airflow_provider_axiom._completion.notices import Done, Inbox, wait_saying
from airflow_provider_axiom._completion.registry import poller_for
from airflow_provider_axiom._protocol import run_state
from airflow_provider_axiom._ratelimit import key_fingerprint
from airflow_provider_axiom._report_window import REPORT_WINDOW
from airflow_provider_axiom._run_state import RunState
from airflow_provider_axiom.exceptions import AxiomError
from airflow_provider_axiom.results import RunReport

if TYPE_CHECKING:
    from airflow_provider_axiom.hooks.axiom import AxiomHook

log = logging.getLogger(__name__)

#: The longest a trigger is held: the API's own queue starts a queued trigger within ten minutes.
DEFAULT_MAX_HOLD = timedelta(minutes=10)
#: How long a trigger let go keeps its slot in this process's view while its run is not yet listed
#: (a deferred task resumes in a worker to send it: scheduling takes seconds, sometimes a minute).
GRANT_TTL = timedelta(minutes=2)
#: How long after a let-go trigger's run ended its grant still holds the automation while no wait for
#: that run has been handed to this process (the task resumes in a worker, sends the trigger, then
#: defers its wait here: on a loaded Airflow that takes tens of seconds, longer than a short run).
HANDOVER = timedelta(minutes=2)
#: A wait whose trigger was sent at or after its grant (less this, for the two processes' clocks) is the grant's.
WAIT_SLACK = timedelta(seconds=2)

HoldReason = Literal["automation_running", "rows_pending", "account_full"]


@dataclass(frozen=True)
class Hold:
    """Why a trigger is held back, and what holds the slot."""

    reason: HoldReason
    automation_name: str
    running: int  # runs the latest reports show going (and grants not yet listed)
    limit: int | None  # the account's limit as known (None: not known)

    def describe(self) -> str:
        if self.reason == "rows_pending":
            return (
                f"a run of {self.automation_name!r} waited for in this process has ended but its rows are not "
                "read yet, and /run-data shows only the newest run of a name: a new run now would hide them"
            )
        if self.reason == "automation_running":
            return (
                f"{self.automation_name!r} is running, and an automation runs one instance at a time unless "
                "its 'Allow cloud concurrency' is on (cloud_concurrency=True)"
            )
        return (
            f"the account has {self.running} run(s) going, its limit of concurrent runs "
            f"({self.limit}: the connection's concurrent_runs)"
        )


@dataclass(frozen=True)
class Grant:
    automation_name: str
    at: DateTime


def _running(reports: Sequence[RunReport]) -> list[RunReport]:
    return [r for r in reports if run_state(r.status) is RunState.RUNNING]


def hold_for(
    automation_name: str,
    reports: Sequence[RunReport],
    *,
    limit: int | None,
    cloud_concurrency: bool,
    grants: Sequence[Grant] = (),
    rows_pending: Collection[str] = (),
) -> Hold | None:
    """Why a ``/trigger`` of ``automation_name`` would be queued now, or None when it would start at once.

    ``reports`` are the latest run reports (newest first); ``grants`` the triggers this process
    let go whose runs the reports do not list yet; ``rows_pending`` the automations of runs waited
    for in this process that have not been told their outcome yet (an ended run's rows are still
    to be read: a new run of its name would hide them, so it holds too unless cloud concurrency is on).
    """
    running = _running(reports)
    busy_here = [r for r in running if r.task_name == automation_name]
    granted_here = [g for g in grants if g.automation_name == automation_name]
    if (busy_here or granted_here) and not cloud_concurrency:
        return Hold("automation_running", automation_name, len(running) + len(grants), limit)
    if automation_name in rows_pending and not cloud_concurrency:
        return Hold("rows_pending", automation_name, len(running) + len(grants), limit)
    if limit is not None and len(running) + len(grants) >= limit:
        return Hold("account_full", automation_name, len(running) + len(grants), limit)
    return None


@dataclass
class KeySlots:
    """One key's grants in this process (shared by its threads and event loops)."""

    grants: list[Grant] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def pending(
        self, reports: Sequence[RunReport], now: DateTime, waited: Collection[tuple[str, DateTime | None]] = ()
    ) -> list[Grant]:
        """The grants that still hold their automation; the rest are dropped.

        ``waited``: the automation and trigger time of each wait registered in this process. A grant
        is let go by the first wait of its automation triggered after it (the rows rule holds from
        then on); without one, ``HANDOVER`` after its run ended, or ``GRANT_TTL`` after it was given
        while its run is not listed (the task failed before sending, or another client took the slot).
        Dropping it once its run was listed let a 30 s run end before its task's wait reached the
        triggerer, and the next copy's run hid its rows (``/run-data`` answers for the newest run).
        """

        def holds(g: Grant) -> bool:
            if any(name == g.automation_name and at is not None and at >= g.at - WAIT_SLACK for name, at in waited):
                return False
            runs = [
                r for r in reports if r.task_name == g.automation_name and r.created_at >= g.at - timedelta(seconds=1)
            ]
            if not runs:
                return now - g.at < GRANT_TTL
            if any(not run_state(r.status).over for r in runs):
                return True
            ended = max((r.updated_at or r.created_at) for r in runs)
            return now < ended + HANDOVER

        with self.lock:
            self.grants = [g for g in self.grants if holds(g)]
            return list(self.grants)

    def grant(self, automation_name: str, now: DateTime) -> None:
        with self.lock:
            self.grants.append(Grant(automation_name, now))


_slots: dict[tuple[str, str], KeySlots] = {}
_registry_lock = threading.Lock()


def slots_for(base_url: str, key_fingerprint: str) -> KeySlots:
    """This process's :class:`KeySlots` for a key (made on first use)."""
    with _registry_lock:
        return _slots.setdefault((base_url, key_fingerprint), KeySlots())


SlotOutcome = Literal["free", "held_too_long", "timeout"]


@dataclass
class SlotWait:
    """A trigger held for a slot, as a listener of the key's poller (see the module docstring)."""

    automation_name: str
    poll_interval: float
    cloud_concurrency: bool
    configured_limit: int | None
    hold_until: DateTime
    deadline: DateTime
    slots: KeySlots
    clock_now: Callable[[], DateTime]
    server_now: Callable[[], DateTime]
    say: Callable[[Hold | None, SlotOutcome | None], None]
    rows_pending: Callable[[], Collection[str]] = frozenset
    waited: Callable[[], Collection[tuple[str, DateTime | None]]] = frozenset
    outcome: SlotOutcome | None = None
    hold: Hold | None = None
    reports: list[RunReport] = field(default_factory=list)
    error: BaseException | None = None
    #: what to ``say``: posted by the poller's tick, said by the wait (in its own task's log)
    told: Inbox[tuple[Hold | None, SlotOutcome | None]] = field(default_factory=Inbox)
    done: Done = field(init=False)

    def __post_init__(self) -> None:
        self.done = Done(self.told)  # wakes the wait for what it is told too

    def reach(self) -> DateTime | None:
        return None  # the latest reports show what is going

    def on_reports(self, reports: list[RunReport], complete: bool, sent: float) -> None:
        if self.done.is_set():
            return
        self.reports = reports
        now = self.clock_now()
        hold = hold_for(
            self.automation_name,
            reports,
            limit=self.configured_limit,
            cloud_concurrency=self.cloud_concurrency,
            grants=self.slots.pending(reports, self.server_now(), self.waited()),
            rows_pending=self.rows_pending(),
        )
        if hold is None:
            self.slots.grant(self.automation_name, self.server_now())
            self._end("free")
        elif now >= self.deadline:
            self._end("timeout")
        elif now >= self.hold_until:
            self._end("held_too_long")
        elif hold != self.hold:
            self.hold = hold
            self.told.post((hold, None))

    def on_error(self, error: BaseException) -> None:
        if not isinstance(error, AxiomError):  # the poller died: the wait learns of it
            self.error = error
            self.done.set()

    def _end(self, outcome: SlotOutcome) -> None:
        self.outcome = outcome
        self.told.post((self.hold, outcome))
        self.done.set()

    def say_one(self, told: tuple[Hold | None, SlotOutcome | None]) -> None:
        """Say one thing posted: called by the wait's own coroutine, never the poller's."""
        self.say(*told)

    def say_told(self) -> None:
        for told in self.told.take():
            self.say_one(told)


async def wait_for_slot(
    hook: AxiomHook,
    automation_name: str,
    *,
    cloud_concurrency: bool,
    poll_interval: float,
    hold_until: DateTime,
    deadline: DateTime,
    say: Callable[[Hold | None, SlotOutcome | None], None],
    not_before: DateTime | None = None,
) -> tuple[SlotOutcome, list[RunReport]]:
    """Wait, on the key's shared poller, until a ``/trigger`` of ``automation_name`` would start at once.

    Returns ``free`` (the trigger is let go: a grant now stands for it in this process),
    ``held_too_long`` (``hold_until`` passed: send it anyway) or ``timeout`` (``deadline`` passed),
    and the last reports read. ``say`` is told of each new hold and of the outcome (the task's log).
    ``not_before``: the wait starts listening only then (a trigger's ``_compat.RESUME_GUARD``).
    """
    await hook.clock.asleep_until(None if not_before is None else min(not_before, deadline))
    poller = await poller_for(hook)
    settings = poller.hook.settings
    waiting = SlotWait(
        automation_name,
        poll_interval,
        cloud_concurrency,
        settings.concurrent_runs or None,
        hold_until,
        deadline,
        slots_for(settings.base_url, key_fingerprint(settings.api_key)),
        hook.clock.now,
        poller.hook.server_now,
        say,
        poller.names_waited,
        poller.triggers_waited,
    )
    poller.join(waiting)
    try:
        if hook.clock.asleep is asyncio.sleep:  # real time: the event loop keeps the deadline too
            seconds = (min(deadline, hold_until) - hook.clock.now()).total_seconds() + 2 * poll_interval
            if not await wait_saying(waiting.done, waiting.say_one, max(0.0, seconds)):
                waiting._end("timeout" if hook.clock.now() >= deadline else "held_too_long")
        else:  # injected time moves with the poller's sleeps; each tick checks the times
            await wait_saying(waiting.done, waiting.say_one)
    finally:
        poller.leave(waiting)
        waiting.say_told()  # in this coroutine: the task's own log
    if waiting.error is not None:
        raise waiting.error
    assert waiting.outcome is not None
    return waiting.outcome, waiting.reports


def teller(
    logger: Any,
    conn_id: str,
    automation_name: str,
    *,
    held_since: DateTime,
    hold_until: DateTime,
    now: Callable[[], DateTime],
) -> Callable[[Hold | None, SlotOutcome | None], None]:
    """What a held trigger says, in the log of the task it is about, and counts in the metrics."""

    def say(hold: Hold | None, outcome: SlotOutcome | None) -> None:
        waited = max(0.0, (now() - held_since).total_seconds())
        if outcome is None and hold is not None:
            _metrics.slot_held(conn_id, hold.reason)
            logger.info(
                "axiom.ai: holding the trigger of %r: %s. A trigger sent now would be queued, and a queued "
                "run is told apart from other queued runs only once %r has been idle for queue_idle_window. "
                "It is sent when the run reports show a free slot, at the latest at %s (the API's own queue "
                "starts a queued trigger within ten minutes)",
                automation_name,
                hold.describe(),
                automation_name,
                hold_until.isoformat(),
            )
            return
        if outcome is None:
            return
        if hold is not None:  # only waits that held count as waits
            _metrics.slot_wait(conn_id, waited, outcome)
        if outcome == "free" and hold is not None:
            logger.info("axiom.ai: a slot is free for %r after %.0f s; sending the trigger", automation_name, waited)
        elif outcome == "held_too_long":
            logger.warning(
                "axiom.ai: the trigger of %r was held %.0f s, as long as the API's own queue would take; "
                "sending it anyway (if it is queued, its run is matched once %r has been idle for queue_idle_window)",
                automation_name,
                waited,
                automation_name,
            )
        elif outcome == "timeout":
            logger.warning(
                "axiom.ai: the task's deadline passed while the trigger of %r was held for a slot; nothing was started",
                automation_name,
            )

    return say


def could_hold(hook: AxiomHook, *, cloud_concurrency: bool) -> bool:
    """Whether anything could hold a trigger: not with cloud concurrency on and no ``concurrent_runs``."""
    return not (cloud_concurrency and not hook.settings.concurrent_runs)


def hold_now(hook: AxiomHook, automation_name: str, *, cloud_concurrency: bool, let_go: bool = False) -> Hold | None:
    """One look (a ``/run-reports`` call, sync): whether a trigger sent now would be held.

    No call at all when nothing could hold it (:func:`could_hold`). ``let_go``: this trigger was let
    go by a :class:`SlotWait`; when that happened in this process (``airflow dags test`` runs its
    triggers in the task's process), its own grant does not hold it.
    """
    if not could_hold(hook, cloud_concurrency=cloud_concurrency):
        return None
    settings = hook.settings
    slots = slots_for(settings.base_url, key_fingerprint(settings.api_key))
    limit = settings.concurrent_runs or None
    try:
        reports = hook.get_run_reports(REPORT_WINDOW)
    except AxiomError as err:  # the look is a courtesy: without it the trigger is sent, as before the hold
        log.warning(
            "axiom.ai: could not read the run reports before triggering %r (%s); sending it now", automation_name, err
        )
        return None
    grants = slots.pending(reports, hook.server_now())
    own = next((g for g in grants if g.automation_name == automation_name), None) if let_go else None
    grants = [g for g in grants if g is not own]
    return hold_for(automation_name, reports, limit=limit, cloud_concurrency=cloud_concurrency, grants=grants)
