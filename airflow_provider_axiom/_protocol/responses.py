"""Responses: parse what the API answered into result types, pure. Also the API's run status words."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pendulum import DateTime

from airflow_provider_axiom._protocol.requests import VIEWER_LINK_KEY
from airflow_provider_axiom._run_state import RunState
from airflow_provider_axiom._time import parse_timestamp
from airflow_provider_axiom.exceptions import AxiomApiError, AxiomBadResponseError
from airflow_provider_axiom.results import (
    RemainingRuntime,
    RunData,
    RunReport,
    StopResult,
    TriggerResult,
)


class _NotJson:
    def __repr__(self) -> str:
        return "NOT_JSON"


#: What :func:`parse_json` returns for a body that is not JSON (a gateway page, a truncated answer).
NOT_JSON: Any = _NotJson()


def parse_json(content: bytes) -> Any:
    """The body as JSON, or ``NOT_JSON``."""
    if not content:
        return NOT_JSON
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return NOT_JSON


def _unexpected(endpoint: str, body: Any, expected: str) -> AxiomApiError:
    shape = sorted(body)[:8] if isinstance(body, Mapping) else type(body).__name__
    return AxiomApiError(
        f"unexpected answer shape from {endpoint}: expected {expected}, got keys {shape}",
        endpoint=endpoint,
        hint="The API may have changed; please report it with this message",
    )


def _report_time(value: Any) -> DateTime | None:
    parsed = parse_timestamp(value)
    if parsed is None and value not in (None, ""):
        raise AxiomBadResponseError(f"unreadable timestamp {value!r} in run reports")
    return parsed


def parse_trigger(body: Any, *, automation_name: str, triggered_at: DateTime, sent_at: DateTime) -> TriggerResult:
    if not isinstance(body, Mapping):
        raise _unexpected("/trigger", body, "an object")
    run_id = body.get("run_id") or body.get("runId")
    run_id = str(run_id) if run_id not in (None, "") else None
    status = str(body.get("status") or "").lower()
    message = body.get("message")
    if status == "queued":
        return TriggerResult(
            automation_name, "queued", None, message, triggered_at=triggered_at, sent_at=sent_at, run_id=run_id
        )
    viewer = body.get(VIEWER_LINK_KEY) or body.get("viewer_url")
    if viewer or run_id:
        return TriggerResult(
            automation_name, "started", viewer, message, triggered_at=triggered_at, sent_at=sent_at, run_id=run_id
        )
    raise _unexpected("/trigger", body, f"{VIEWER_LINK_KEY!r} or status 'queued'")


def parse_run_data(body: Any) -> RunData:
    if not isinstance(body, Mapping) or "status" not in body:
        raise _unexpected("/run-data", body, "status and data")
    data = body.get("data") or {}
    if not isinstance(data, Mapping):
        raise _unexpected("/run-data", body, "data as an object of writer token -> rows")
    tables: dict[str, Any] = {}
    for token, rows in data.items():
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _unexpected("/run-data", body, f"data[{str(token)!r}] as a list of rows")
        tables[str(token)] = [list(row) for row in rows]
    return RunData(status=str(body["status"]), data=tables)


def _data(body: Any, endpoint: str, expected: str) -> Mapping[str, Any]:
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, Mapping):
        raise _unexpected(endpoint, body, expected)
    return data


def parse_run_reports(body: Any) -> list[RunReport]:
    reports = _data(body, "/run-reports", "data.reports").get("reports")
    if not isinstance(reports, list):
        raise _unexpected("/run-reports", body, "data.reports as a list")
    out = []
    for item in reports:
        if not isinstance(item, Mapping):
            continue
        created = _report_time(item.get("created_at"))
        if created is None:
            continue
        out.append(
            RunReport(
                task_name=str(item.get("task_name", "")),
                status=str(item.get("status", "")),
                description=str(item.get("description") or ""),
                created_at=created,
                updated_at=_report_time(item.get("updated_at")),
            )
        )
    out.sort(key=lambda r: r.created_at, reverse=True)
    return out


def parse_automation_names(body: Any) -> list[str]:
    names = _data(body, "/list-automations", "data.names").get("names")
    if not isinstance(names, list):
        raise _unexpected("/list-automations", body, "data.names as a list")
    return [str(n) for n in names]


def parse_remaining_runtime(body: Any) -> RemainingRuntime:
    data = _data(body, "/remaining-runtime", "data.used/allowance/remaining")
    try:
        return RemainingRuntime(
            used=float(data["used"]), allowance=float(data["allowance"]), remaining=float(data["remaining"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _unexpected("/remaining-runtime", body, "data.used/allowance/remaining numbers") from exc


def parse_stop(body: Any, pid: str) -> StopResult:
    return StopResult(pid=pid, response=dict(body) if isinstance(body, Mapping) else {})


# --------------------------------------------------------------------------- run states

#: The run statuses the docs give (``/run-reports`` and ``/run-data``), spelt as they give them.
DOCUMENTED_STATUSES = ("Running", "Success", "Failure")

#: The API's words for a run's state (any case), the only place they are read.
_STATES: dict[str, RunState] = {
    "running": RunState.RUNNING,
    "queued": RunState.RUNNING,
    "pending": RunState.RUNNING,
    "in progress": RunState.RUNNING,
    "success": RunState.SUCCESS,
    "succeeded": RunState.SUCCESS,
    "completed": RunState.SUCCESS,
    "warning": RunState.SUCCESS,  # "Continue on error" runs finish as success with warnings
    "failure": RunState.FAILURE,
    "failed": RunState.FAILURE,
    "error": RunState.FAILURE,
    "stopped": RunState.FAILURE,
    "cancelled": RunState.FAILURE,
}

#: An older surface's word for a run that ended, whichever way (see :func:`says_finished`).
_FINISHED = "finished"


def _word(status: str | None) -> str:
    return (status or "").strip().lower()


def run_state(status: str | None) -> RunState:
    """Map a run status (``Running``/``Success``/``Failure``, any case) to a state: the one mapping.

    Unknown values (``Finished`` from an older surface included) map to ``UNKNOWN`` so that the
    caller can show them instead of guessing success.
    """
    return _STATES.get(_word(status), RunState.UNKNOWN)


def says_finished(status: str | None) -> bool:
    """Whether ``status`` is an older surface's ``Finished``: the run ended, not said how (it maps to ``UNKNOWN``)."""
    return _word(status) == _FINISHED


def closest_names(name: str, names: Sequence[str], limit: int = 3) -> list[str]:
    """Names that differ from ``name`` only by case or spacing first, then near spellings."""

    def squash(s: str) -> str:
        return " ".join(s.split()).casefold()

    exact = [n for n in names if squash(n) == squash(name) and n != name]
    close = difflib.get_close_matches(squash(name), [squash(n) for n in names], n=limit, cutoff=0.6)
    by_squash = {squash(n): n for n in names}
    merged = exact + [by_squash[c] for c in close if by_squash[c] not in exact and by_squash[c] != name]
    return merged[:limit]
