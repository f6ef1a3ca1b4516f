"""Waiting for a run to end: the shared poller, the one wait loop, the event contract, and the stop path.

**Cost per key, not per run.** Every run waited for in one event loop with the same base URL and
API key registers with one :class:`KeyPoller`. Each tick (``poll_interval``, 5 s by default) it
makes **one** ``/run-reports`` call, with ``count`` wide enough to reach the oldest waiter, and
hands each waiter what it saw. A run further back than the widest window is looked up through
``/run-data`` of its name, one name per tick. ``/run-data`` is read once per successful run, for
its output, a few at a time, at the pace the key's rate limiter allows. So a triggerer holding a
thousand deferred runs spends about 12 calls a minute on status, whatever their number.

**One loop.** :func:`wait_for_run` serves the trigger (in the triggerer) and the operator's
worker-side wait (through ``asyncio.run``). Its deadline is absolute and kept exactly: the waiter
waits on an event with a timeout, so no tick, backoff or limiter queue sleeps past it.

**The event contract.** The trigger yields one event ``{"status": "success" | "failure" |
"timeout" | "error", "message", "run", "summary"?, "error_class"?, ...}``, ``run`` the run's
identity value (``RunRef.to_dict()``, the form the trigger was given), read back by
:func:`~airflow_provider_axiom._completion.events.run_field`; :func:`complete_from_event` turns it
into the task's result or error and fails closed on anything else.
"""

from __future__ import annotations

from airflow_provider_axiom._completion.events import (
    DEFER_BACKSTOP,
    EVENT_STATUSES,
    complete_from_event,
    defer_timeout,
    failure_error,
    link_masked,
    link_restored,
    run_summary,
    settles_run,
    stale_event,
    timeout_error,
)
from airflow_provider_axiom._completion.poller import KeyPoller
from airflow_provider_axiom._completion.registry import poller_for
from airflow_provider_axiom._completion.stop import astop_remote_run, stop_remote_run
from airflow_provider_axiom._completion.wait import Look, alook, look_once, outcome_event, wait_for_run

__all__ = [
    "DEFER_BACKSTOP",
    "EVENT_STATUSES",
    "KeyPoller",
    "Look",
    "alook",
    "astop_remote_run",
    "complete_from_event",
    "defer_timeout",
    "failure_error",
    "link_masked",
    "link_restored",
    "look_once",
    "outcome_event",
    "poller_for",
    "run_summary",
    "settles_run",
    "stale_event",
    "stop_remote_run",
    "timeout_error",
    "wait_for_run",
]
