"""Watching for finished runs (asset watchers): which runs fire, once each, and what survives a restart.

A watcher does not wait for one run: it reads every tick's ``/run-reports`` from the key's shared
:class:`~airflow_provider_axiom._completion.poller.KeyPoller` (as a listener, so 20 watchers and
100 waiting runs of one key still cost one call per tick) and fires once per finished run of its
automations.

**The dedup rule** (:meth:`WatchState.select`, pure). A run is known by its name and start time
(``created_at``; the API has no run id). A report fires when it is finished, its outcome is one
the watcher fires on, it ended (``updated_at``) at or after the *watermark*, and its key is not in
``fired``. The watermark starts when the watcher first starts (no backfill of history) and then
trails each complete read by :data:`WATERMARK_LAG`. Both read the API's clock (the ``Date`` of its
answers), never the local one: run reports carry the API's times, so a host clock that is off, or
an emulator running faster than real time, must not move which runs count as "before the start".
``fired`` keeps only the runs that ended at or after it, so the state stays small. The shared
read reaches back to the watermark, and to the start of any run seen running (``open``) until it
ends, up to the poller's widest read.

**Restarts.** The state is saved *before* the events are handed to the triggerer (and after their
rows are read), so a crash between the two loses an event rather than firing a run twice. Where it
is saved: Airflow 3.3+ gives an event trigger an asset state store, which outlives the triggerer;
there a restart or a move resumes from the saved watermark and fires what ended while nobody
watched (as far back as one read of the latest reports reaches). Below 3.3 the state lives in the
triggerer's memory only: a trigger re-created in the same process resumes it, but a new triggerer
process starts a new watermark, so a run that ended while no triggerer ran is not fired (and none
is fired twice).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pendulum import DateTime

from airflow_provider_axiom._matching import DataUnavailable
from airflow_provider_axiom._protocol import closest_names, iso, parse_timestamp, run_state
from airflow_provider_axiom._report_window import MAX_REPORT_WINDOW
from airflow_provider_axiom.exceptions import AxiomError, AxiomNotFoundError
from airflow_provider_axiom.results import RunReport

if TYPE_CHECKING:
    from airflow_provider_axiom._completion.poller import KeyPoller
    from airflow_provider_axiom._transport import Clock
    from airflow_provider_axiom.hooks.axiom import AxiomHook

log = logging.getLogger(__name__)

#: How far the watermark trails a complete read: a run that ends after the read shows a later
#: ``updated_at`` than this, whatever the read's latency and the API's whole-second timestamps.
WATERMARK_LAG = timedelta(seconds=60)
#: How often the watermark is saved when nothing fires, so a restart does not read back further than needed.
SAVE_EVERY = timedelta(minutes=1)
#: Transient read failures in a row after which the log says so again (they never end a watcher).
WARN_EVERY = 10


def run_key(name: str, started_at: DateTime) -> str:
    """A run's identity: its automation and start time (second resolution, as the API reports it)."""
    return f"{name}@{started_at.in_timezone('UTC').strftime('%Y-%m-%dT%H:%M:%SZ')}"


def ended_at(report: RunReport) -> DateTime:
    return report.updated_at or report.created_at


@dataclass
class WatchState:
    """What a watcher has done: the watermark, the runs fired since, the runs seen running."""

    watermark: DateTime
    fired: dict[str, str] = field(default_factory=dict)  # run key -> ended at (ISO)
    open: dict[str, str] = field(default_factory=dict)  # run key -> started at (ISO), runs seen running

    def reach(self) -> DateTime:
        """How far back a read must reach: the watermark, or the start of an older run seen running."""
        starts = [parse_timestamp(v) for v in self.open.values()]
        return min((s for s in starts if s is not None), default=self.watermark)

    def select(
        self,
        reports: Sequence[RunReport],
        names: Iterable[str],
        outcomes: Iterable[str],
        *,
        now: DateTime,
        complete: bool,
    ) -> list[RunReport]:
        """The finished runs to fire for one read (oldest end first); records them as fired. Pure but for ``self``.

        ``outcomes``: the ``RunState`` values that fire (``"success"``, ``"failure"``).
        """
        names, outcomes = set(names), set(outcomes)
        fire: list[RunReport] = []
        seen: set[str] = set()
        for report in reports:
            if report.task_name not in names:
                continue
            key = run_key(report.task_name, report.created_at)
            seen.add(key)
            state = run_state(report.status)
            if not state.over:
                self.open.setdefault(key, iso(report.created_at) or "")
                continue
            self.open.pop(key, None)
            if state in outcomes and ended_at(report) >= self.watermark and key not in self.fired:
                fire.append(report)
                self.fired[key] = iso(ended_at(report)) or ""
        widest = len(reports) >= MAX_REPORT_WINDOW
        if widest:  # the widest read no longer reaches them: let them go
            oldest = min(r.created_at for r in reports)
            for key, started in list(self.open.items()):
                begun = parse_timestamp(started)
                if key not in seen and begun is not None and begun < oldest:
                    log.warning("axiom.ai: the run %s is no longer among the latest %d reports", key, len(reports))
                    del self.open[key]
        if complete or widest:  # the widest read is as far back as a watcher can see
            self.watermark = max(self.watermark, now - WATERMARK_LAG)
            self.fired = {
                k: v for k, v in self.fired.items() if (t := parse_timestamp(v)) is None or t >= self.watermark
            }
        return sorted(fire, key=ended_at)

    def to_json(self) -> str:
        return json.dumps({"watermark": iso(self.watermark), "fired": self.fired, "open": self.open}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WatchState | None:
        try:
            raw = json.loads(text)
            watermark = parse_timestamp(raw["watermark"])
        except (TypeError, ValueError, KeyError):
            return None
        if watermark is None:
            return None
        return cls(watermark, dict(raw.get("fired") or {}), dict(raw.get("open") or {}))


def payload(
    report: RunReport, data: Any = None, *, with_data: bool = False, unavailable: DataUnavailable | None = None
) -> dict[str, Any]:
    """The event payload (the asset event's ``extra["payload"]``) for a finished run.

    With ``with_data``: ``data`` (the run's output, or None) and ``data_unavailable`` (None when
    ``data`` is the run's output, else why not).
    """
    body: dict[str, Any] = {
        "run_key": run_key(report.task_name, report.created_at),
        "automation_name": report.task_name,
        "status": run_state(report.status).value,
        "outcome": report.status,
        "started_at": iso(report.created_at),
        "finished_at": iso(ended_at(report)),
        "description": report.description,
    }
    if with_data:
        body["data"] = data
        body["data_unavailable"] = unavailable
    return body


#: State of watchers in this process, by :func:`state_key`: a trigger re-created here resumes it.
_memory: dict[str, WatchState] = {}


def state_key(trigger_kwargs: dict[str, Any]) -> str:
    """Where a watcher's state is kept: one key per trigger (Airflow runs one trigger per distinct kwargs)."""
    digest = hashlib.sha256(json.dumps(trigger_kwargs, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"airflow-provider-axiom.watch.{digest}"


class RunWatch:
    """One watcher's listener on the key's poller: the reports of each tick, turned into runs to fire."""

    def __init__(
        self,
        names: Sequence[str],
        outcomes: Sequence[str],
        *,
        key: str,
        clock: Clock,
        poll_interval: float,
        store: Any = None,
    ) -> None:
        self.names, self.outcomes, self.key = list(names), list(outcomes), key
        self.clock, self.poll_interval, self.store = clock, poll_interval, store
        #: The API's clock: the hook's, from the start on (see :meth:`start` and :meth:`follow`).
        self.now: Callable[[], DateTime] = clock.now
        self.state: WatchState | None = None
        self._ready: asyncio.Queue[list[RunReport] | BaseException] = asyncio.Queue()
        self._failures = 0
        self._saved_at: DateTime | None = None
        self._latest: list[RunReport] = []  # the last read's reports

    # -- the listener interface of KeyPoller
    def reach(self) -> DateTime | None:
        return None if self.state is None else self.state.reach()

    def on_reports(self, reports: list[RunReport], complete: bool, sent: float) -> None:
        assert self.state is not None
        if self._failures:
            log.info("axiom.ai: run reports readable again after %d failed reads", self._failures)
        self._failures = 0
        self._latest = reports
        fire = self.state.select(reports, self.names, self.outcomes, now=self.now(), complete=complete)
        self._ready.put_nowait(fire)

    def on_error(self, error: BaseException) -> None:
        if isinstance(error, AxiomError) and error.retryable:
            self._failures += 1
            if self._failures == 1 or self._failures % WARN_EVERY == 0:
                log.warning(
                    "axiom.ai: could not read run reports (%d in a row), trying again: %s", self._failures, error
                )
            return
        self._ready.put_nowait(error)

    # -- the watcher's life
    def follow(self, server_now: Callable[[], DateTime]) -> None:
        """Read the API's clock through ``server_now`` from now on (the poller's hook, which every tick updates)."""
        self.now = server_now

    async def start(self, hook: AxiomHook) -> None:
        """Check the names (a permanent error ends the watcher) and load the saved state.

        A new watcher's watermark is the API's time when it starts, learnt from the ``Date`` of the
        ``/list-automations`` answer, so "before the start" means what the run reports mean by it.
        """
        known = await hook.alist_automations()
        self.follow(hook.server_now)
        for name in self.names:
            if name not in known:
                err = AxiomNotFoundError(f"No automation named {name!r} to watch", status_code=404)
                err.suggest(closest_names(name, known))
                raise err
        self.state = await self._load() or _memory.get(self.key) or WatchState(self.now().set(microsecond=0))
        _memory[self.key] = self.state
        log.info(
            "axiom.ai: watching %s for runs that end in %s after %s",
            ", ".join(repr(n) for n in self.names),
            " or ".join(self.outcomes),
            iso(self.state.watermark),
        )

    async def next_batch(self) -> list[RunReport]:
        """The runs to fire from the next tick (often none); raises what ends the watcher."""
        item = await self._ready.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def _load(self) -> WatchState | None:
        if self.store is None:
            return None
        try:
            text = await self.store.aget(self.key)
        except Exception as err:  # several assets on one trigger, an older API: memory only
            log.warning("axiom.ai: the asset state store could not be read (%r); state is kept in memory", err)
            self.store = None
            return None
        return WatchState.from_json(text) if isinstance(text, str) else None

    async def save(self, *, fired: bool = True) -> None:
        """Save the state (before handing events over); without ``fired``, at most once a ``SAVE_EVERY``."""
        if self.store is None or self.state is None:
            return
        now = self.clock.now()
        if not fired and self._saved_at is not None and now - self._saved_at < SAVE_EVERY:
            return
        self._saved_at = now
        try:
            await self.store.aset(self.key, self.state.to_json())
        except Exception as err:
            log.warning("axiom.ai: the watcher's state could not be saved (%r); a restart may miss runs", err)

    async def event_payload(self, report: RunReport, poller: KeyPoller, read: bool) -> dict[str, Any]:
        """The payload for a run; with ``read``, its output rows when they are provably its own.

        They are read by the rule the waiting tasks follow, through the key's poller and its read queue
        (:mod:`~airflow_provider_axiom._completion.rows`); what the read has to say is said here.
        """
        if not read:
            return payload(report)
        if not run_state(report.status).succeeded:
            return payload(report, None, with_data=True, unavailable="run_failed")
        data, why = await poller.rows_of(
            report.task_name, report.created_at, self._latest, lambda notice: notice.say(log)
        )
        if why is not None:
            log.warning(
                "axiom.ai: the output of %s is not in the event: data is None (data_unavailable=%r)",
                run_key(report.task_name, report.created_at),
                why,
            )
        return payload(report, data, with_data=True, unavailable=why)
