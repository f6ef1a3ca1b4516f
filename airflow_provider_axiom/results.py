"""What the hook's calls return: small frozen dataclasses, JSON-serialisable through ``to_dict``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pendulum import DateTime

from airflow_provider_axiom._run_state import RunState  # public here: a run's state as the provider reads it
from airflow_provider_axiom._time import iso, to_datetime

__all__ = ["RemainingRuntime", "RunData", "RunReport", "RunState", "StopResult", "TriggerResult"]

Rows = list[list[str]]


class _Result:
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (timestamps as ISO 8601 strings)."""
        out = {}
        for key, value in asdict(self).items():  # type: ignore[call-overload]
            out[key] = iso(value) if isinstance(value, DateTime) else value
        return out


@dataclass(frozen=True)
class TriggerResult(_Result):
    """What ``/trigger`` answered.

    ``triggered_at`` is the server's ``Date`` header when present (else the local clock);
    ``sent_at`` is the server-time estimate of when the request left (``triggered_at`` minus the
    round trip), the lower bound used to recognise this run in run reports.
    ``recovered`` is True when the answer was lost but run reports showed the run had started.
    """

    automation_name: str
    status: Literal["started", "queued"]
    viewer_url: str | None
    message: str | None
    triggered_at: DateTime
    sent_at: DateTime
    run_id: str | None = None
    recovered: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TriggerResult:
        """Rebuild a result saved with :meth:`to_dict`."""
        return cls(
            automation_name=str(data["automation_name"]),
            status="queued" if data.get("status") == "queued" else "started",
            viewer_url=data.get("viewer_url"),
            message=data.get("message"),
            triggered_at=to_datetime(data["triggered_at"], "triggered_at"),
            sent_at=to_datetime(data["sent_at"], "sent_at"),
            run_id=data.get("run_id"),
            recovered=bool(data.get("recovered")),
        )


@dataclass(frozen=True)
class RunData(_Result):
    """``/run-data``: status of the latest run of a name, and what its writer steps wrote."""

    status: str
    data: dict[str, Rows]


@dataclass(frozen=True)
class RunReport(_Result):
    """One entry of ``/run-reports``."""

    task_name: str
    status: str
    description: str
    created_at: DateTime
    updated_at: DateTime | None


@dataclass(frozen=True)
class RemainingRuntime(_Result):
    """``/remaining-runtime``, in minutes."""

    used: float
    allowance: float
    remaining: float


@dataclass(frozen=True)
class StopResult(_Result):
    """``/stop``: ``pid`` that was asked to stop and what the API answered, if anything."""

    pid: str
    response: dict[str, Any]
