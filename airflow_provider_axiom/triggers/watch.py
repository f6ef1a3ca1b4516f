"""``AxiomRunFinishedTrigger``: an event trigger for an ``AssetWatcher``, fired once per finished axiom.ai run."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from functools import cached_property
from typing import Any

from airflow_provider_axiom._compat import BaseEventTrigger, TriggerEvent
from airflow_provider_axiom._completion.registry import poller_for
from airflow_provider_axiom._completion.watch import RunWatch, state_key
from airflow_provider_axiom._run_state import OUTCOMES, RunState
from airflow_provider_axiom.hooks.axiom import AxiomHook

__all__ = ["AxiomRunFinishedTrigger"]

log = logging.getLogger(__name__)


class AxiomRunFinishedTrigger(BaseEventTrigger):
    """Fire one event per finished run of an automation, for an ``AssetWatcher`` on an ``Asset``.

    Every watcher and every waiting run of one key in a triggerer share one ``/run-reports`` call
    per tick. A run is fired once, keyed by its name and start time; runs that ended before the
    watcher first started (by the API's clock, whatever the host's) are never fired. The payload
    (the asset event's ``extra["payload"]``) is
    ``{"run_key", "automation_name", "status": "success" | "failure", "outcome", "started_at",
    "finished_at", "description"}``, plus ``"data"`` (output rows, or None when no longer
    readable) with ``read_output=True``. Transient API errors are absorbed; a permanent one (a bad
    key, an unknown automation) ends the watcher with the error in the triggerer's log.

    :param automation_name: the automation's exact name, or a list of names.
    :param outcomes: which run outcomes fire: ``"success"`` (default), ``"failure"``, or both.
    :param axiom_conn_id: the connection id (the key itself is never serialised).
    :param poll_interval: the shared poller's tick, seconds (default 5).
    :param read_output: read each successful run's output rows into the payload (one ``/run-data``
        call per run; only the newest run of a name has readable output). Off by default.
    """

    def __init__(
        self,
        *,
        automation_name: str | Sequence[str],
        outcomes: str | Sequence[str] = (RunState.SUCCESS.value,),
        axiom_conn_id: str = AxiomHook.default_conn_name,
        poll_interval: float = 5.0,
        read_output: bool = False,
    ) -> None:
        super().__init__()
        names = [automation_name] if isinstance(automation_name, str) else list(automation_name)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"automation_name must be a name or a non-empty list of names, got {automation_name!r}")
        wanted = [outcomes] if isinstance(outcomes, str) else list(outcomes)
        wanted = [str(o).strip().lower() for o in wanted]
        known = [state.value for state in OUTCOMES]
        if not wanted or not set(wanted) <= set(known):
            raise ValueError(f"outcomes must be {', '.join(repr(o) for o in known)} or both, got {outcomes!r}")
        self.automation_names = names
        self.outcomes = [o for o in known if o in wanted]
        self.axiom_conn_id = axiom_conn_id
        self.poll_interval = float(poll_interval)
        if self.poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval!r}")
        self.read_output = bool(read_output)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        names = self.automation_names
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "automation_name": names[0] if len(names) == 1 else list(names),
                "outcomes": list(self.outcomes),
                "axiom_conn_id": self.axiom_conn_id,
                "poll_interval": self.poll_interval,
                "read_output": self.read_output,
            },
        )

    @cached_property
    def hook(self) -> AxiomHook:
        """The hook this watcher reads through (the poller it listens to is shared per key)."""
        return AxiomHook(self.axiom_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self.hook
        watch = RunWatch(
            self.automation_names,
            self.outcomes,
            key=state_key(self.serialize()[1]),
            clock=hook.clock,
            poll_interval=self.poll_interval,
            store=getattr(self, "asset_state_store", None),
        )
        try:
            await watch.start(hook)
            poller = await poller_for(hook)
            watch.follow(poller.hook.server_now)  # the API's clock, as each tick's answer gives it
            poller.join(watch)
            try:
                while True:
                    batch = await watch.next_batch()
                    bodies = [await watch.event_payload(report, poller, self.read_output) for report in batch]
                    # saved once the rows are read, just before the events: a crash in between loses
                    # them, never fires one twice
                    await watch.save(fired=bool(batch))
                    for body in bodies:
                        log.info("axiom.ai: run %s ended %s: firing", body["run_key"], body["outcome"])
                        yield TriggerEvent(body)
            finally:
                poller.leave(watch)
        except Exception as err:
            log.error("axiom.ai: the watcher of %s stopped: %s", ", ".join(map(repr, self.automation_names)), err)
            raise
        finally:
            await hook.aclose()
