"""A run's identity: the one value that names the run a task waits for, from the trigger's answer to the event.

A :class:`RunRef` is built once: from ``/trigger``'s answer (:meth:`RunRef.from_trigger`) or, for a
sensor, from the time it waits from (:meth:`RunRef.first_since`). Its serialised form
(:meth:`RunRef.to_dict`) is what the task state, the trigger's arguments and the event carry, under the
one key :data:`KEY`. The API's documented surface has no run id, so the value is a creation-time window
(see ``_matching`` for how runs are matched to it); a run id rides along when ``/trigger`` gives one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pendulum import DateTime

from airflow_provider_axiom._time import iso, to_datetime
from airflow_provider_axiom.results import TriggerResult

#: The one key under which the task state, the trigger's arguments and the event carry a run's identity.
KEY = "run"

#: The API's timestamps are whole seconds.
RESOLUTION = timedelta(seconds=1)
#: Default slack between the server's ``Date`` header and the clock of its run reports.
DEFAULT_TOLERANCE = timedelta(seconds=2)

#: Same-name triggers from one process leave this far apart: their runs' windows (a round trip of up to
#: a second, widened by the resolution and the tolerance on both sides) then never overlap.
TRIGGER_SPACING = RESOLUTION + 2 * DEFAULT_TOLERANCE + timedelta(seconds=1)

RefKind = Literal["trigger", "queued", "first_since"]
_KINDS: dict[str, RefKind] = {"trigger": "trigger", "queued": "queued", "first_since": "first_since"}


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
