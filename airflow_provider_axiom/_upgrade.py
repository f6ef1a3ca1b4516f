"""What the released 0.2 wrote, read for one release with a ``DeprecationWarning``; drop this room in 0.4.

A trigger row in Airflow's database outlives a deploy, and so does a task's state (what a retry
re-attaches from). 0.2 wrote a run's identity in pieces: the trigger's arguments flat
(``automation_name``, ``not_before``, ``triggered_at``, ``run_id``, ``viewer_url``, ``attempt``), the
task state as ``/trigger``'s answer (``TriggerResult.to_dict()``), and the event's loose keys. Now each
carries :class:`~airflow_provider_axiom._run_ref.RunRef`'s own form under one key
(:data:`~airflow_provider_axiom._run_ref.KEY`). ``max_poll_interval`` was carried everywhere and used
nowhere: it is accepted, with a warning, and dropped.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow_provider_axiom._run_ref import RunRef
from airflow_provider_axiom._time import to_datetime
from airflow_provider_axiom.results import TriggerResult

#: The arguments of an ``AxiomRunTrigger`` serialised by 0.2 that named its run.
TRIGGER_KEYS = ("automation_name", "not_before", "triggered_at", "run_id", "viewer_url", "attempt")
#: Until when the old shapes are read.
UNTIL = "0.4"


def warn(what: str) -> None:
    """Say that ``what`` is read in its 0.2 shape, and until when."""
    warnings.warn(f"{what} (read until {UNTIL}, then refused)", DeprecationWarning, stacklevel=3)


def max_poll_interval(who: str) -> None:
    """``max_poll_interval`` was given: it is ignored (the tick never grew; it slows only at the key's rate limit)."""
    warnings.warn(
        f"{who}: max_poll_interval is deprecated and ignored (the poller's tick is poll_interval, slowed only "
        f"by the key's rate limit); it will be refused from {UNTIL}",
        DeprecationWarning,
        stacklevel=3,
    )


def trigger_ref(kwargs: Mapping[str, Any]) -> RunRef:
    """The run of an ``AxiomRunTrigger`` serialised by 0.2 (flat arguments): the first run created at or after
    ``not_before``, as 0.2 waited for it."""
    unknown = sorted(set(kwargs) - set(TRIGGER_KEYS))
    if unknown:
        raise TypeError(f"AxiomRunTrigger got unexpected arguments {unknown}")
    if not kwargs.get("automation_name") or not kwargs.get("not_before"):
        raise TypeError("AxiomRunTrigger needs run= (or, as serialised by 0.2, automation_name and not_before)")
    warn("an AxiomRunTrigger serialised by 0.2 (automation_name=, not_before=, ... instead of run=)")
    return RunRef(
        automation_name=str(kwargs["automation_name"]),
        not_before=to_datetime(kwargs["not_before"], "not_before"),
        run_id=kwargs.get("run_id") or None,
        viewer_url=kwargs.get("viewer_url") or None,
        triggered_at=to_datetime(kwargs["triggered_at"], "triggered_at") if kwargs.get("triggered_at") else None,
        attempt=kwargs.get("attempt"),
    )


def is_state(saved: Any) -> bool:
    """Whether a task state is ``/trigger``'s answer as 0.2 saved it."""
    return isinstance(saved, Mapping) and "sent_at" in saved and "automation_name" in saved


def state_ref(saved: Mapping[str, Any], tolerance: timedelta, *, attempt: int | None) -> RunRef:
    """The run a task state saved by 0.2 names: built from that ``/trigger`` answer, as it is built now."""
    warn("a task state saved by 0.2 (the /trigger answer instead of the run's identity)")
    return RunRef.from_trigger(TriggerResult.from_dict(saved), tolerance, attempt=attempt)


def event_field(event: Mapping[str, Any], key: str) -> Any:
    """A field of the run's identity from an event yielded by 0.2 (loose keys, no identity value)."""
    warn("an event yielded by a 0.2 trigger (loose keys instead of the run's identity)")
    return event.get(key)
