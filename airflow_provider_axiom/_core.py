"""Pure request building, input validation and response parsing for the axiom.ai v3 API.

Nothing here does I/O: the hook's sync and async transports only send what these functions
build and hand back what the API answered. The API key never appears in a request object; the
transport adds it to the JSON body at the last moment.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import pendulum
from pendulum import DateTime

from airflow_provider_axiom.exceptions import (
    NOT_JSON,
    AxiomApiError,
    AxiomBadRequestError,
    AxiomBadResponseError,
)

DEFAULT_BASE_URL = "https://lar.axiom.ai/api/v3"
VIEWER_LINK_KEY = "OPEN LINK IN BROWSER"

Cell = str
Rows = list[list[Cell]]


def utcnow() -> DateTime:
    """Now, in UTC (the default clock everywhere; tests inject their own)."""
    return pendulum.now("UTC")


def iso(value: Any) -> str | None:
    """ISO 8601 text for a datetime; strings and None pass through."""
    if value is None or isinstance(value, str):
        return value
    return str(value.isoformat())


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class ApiRequest:
    """One POST to the API. ``body`` never holds the key; ``with_key`` adds it when sending."""

    endpoint: str
    body: dict[str, Any] = field(default_factory=dict)
    with_key: bool = True
    allow_empty_body: bool = False

    @property
    def path(self) -> str:
        return self.endpoint.lstrip("/")

    def encode(self, api_key: str) -> bytes:
        body = {"key": api_key, **self.body} if self.with_key else self.body
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def validate_name(name: Any, field_name: str = "automation_name") -> str:
    """Return ``name`` if it is a non-empty string, else raise :class:`AxiomBadRequestError`."""
    if not isinstance(name, str):
        raise AxiomBadRequestError(
            f"{field_name} must be a string, got {type(name).__name__}", hint="Pass the automation's name"
        )
    if not name.strip():
        raise AxiomBadRequestError(f"{field_name} is empty", hint="Pass the automation's exact name")
    return name


def _cell(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AxiomBadRequestError(
                f"data: {where} is {value!r}", hint="Cells must be finite numbers, text, booleans or None"
            )
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    raise AxiomBadRequestError(
        f"data: {where} is a {type(value).__name__}",
        hint="Each cell must be text, a number, a boolean or None; nested lists, dicts and bytes are not allowed",
    )


def _is_seq(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


def _rows(table: Any, prefix: str) -> Rows:
    if not _is_seq(table):
        raise AxiomBadRequestError(f"data: {prefix or 'data'} must be a list of rows, got {type(table).__name__}")
    if not table:
        raise AxiomBadRequestError(f"data: {prefix or 'data'} has no rows")
    out: Rows = []
    width: int | None = None
    for r, row in enumerate(table):
        label = f"{prefix}row {r}"
        if not _is_seq(row):
            raise AxiomBadRequestError(
                f"data: {label} is a {type(row).__name__}, not a list of cells",
                hint="data must be a list of rows (2-D) or a list of tables (3-D)",
            )
        if len(row) == 0:
            raise AxiomBadRequestError(
                f"data: {label} is empty", hint="Empty rows make the automation behave unpredictably"
            )
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise AxiomBadRequestError(
                f"data: {label} has {len(row)} cells but row 0 of the same table has {width}",
                hint="All rows of a table must have the same length; pad with None or ''",
            )
        out.append([_cell(v, f"{label}, column {c}") for c, v in enumerate(row)])
    return out


def normalize_data(data: Any) -> list[Any] | None:
    """Validate trigger input and coerce its cells to strings, keeping its shape.

    The docs disagree on the shape (2-D rows on most pages, 3-D tables on the newer payload
    page), so both are accepted and passed through as they are: a list of rows, or a list of
    tables. Cells: ``str``/``int``/``float``/``bool`` become strings, ``None`` becomes ``""``;
    anything else, empty rows, ragged rows and mixed shapes are rejected with an error naming the
    table, row and column. Nothing is sent when this raises.
    """
    if data is None:
        return None
    if isinstance(data, (str, bytes, bytearray)) or not _is_seq(data):
        raise AxiomBadRequestError(
            f"data must be a list of rows, got {type(data).__name__}",
            hint='For example [["url"], ["https://example.com"]]',
        )
    if len(data) == 0:
        raise AxiomBadRequestError("data is an empty list", hint="Pass None to send no input")
    depth3 = [_is_seq(item) and len(item) > 0 and all(_is_seq(r) for r in item) for item in data]
    if all(depth3):
        return [_rows(table, f"table {t}, ") for t, table in enumerate(data)]
    if any(depth3):
        first_table = depth3.index(True)
        first_row = depth3.index(False)
        raise AxiomBadRequestError(
            f"data mixes tables and rows: item {first_table} is a table (list of rows) but item {first_row} is a row",
            hint="Use a list of rows (2-D) or a list of tables (3-D), not both",
        )
    return _rows(data, "")


def trigger_request(name: str, data: Any = None) -> ApiRequest:
    body: dict[str, Any] = {"name": validate_name(name)}
    rows = normalize_data(data)
    if rows is not None:
        body["data"] = rows
    return ApiRequest("/trigger", body)


def run_data_request(name: str | None = None, run_id: str | None = None) -> ApiRequest:
    if run_id:
        return ApiRequest("/run-data", {"run_id": str(run_id)})
    return ApiRequest("/run-data", {"name": validate_name(name)})


def run_reports_request(count: int | None = 5) -> ApiRequest:
    if count is None:
        return ApiRequest("/run-reports", {})
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise AxiomBadRequestError(f"count must be a positive integer, got {count!r}")
    return ApiRequest("/run-reports", {"count": count})


def list_automations_request() -> ApiRequest:
    return ApiRequest("/list-automations", {})


def remaining_runtime_request() -> ApiRequest:
    return ApiRequest("/remaining-runtime", {})


# --------------------------------------------------------------------------- viewer URL and /stop

_PID_RE = re.compile(r"(?:^|[-.])c-(\d{2,})(?=[-.])")


@dataclass(frozen=True)
class ViewerCredentials:
    """``pid`` and ``pw`` taken from a run's viewer URL: what ``/stop`` needs."""

    pid: str
    pw: str = field(repr=False)


def parse_viewer_url(viewer_url: str) -> ViewerCredentials:
    """Extract ``pid`` and ``pw`` from a viewer URL.

    Both documented forms are read: ``...?host=dev-c-0002-v4-proxy.axiom.ai&...&password=PW``
    (pid ``02``, the last two digits of the host's ``c-00NN`` label) and the older
    ``c-0002-v4-proxy.axiom.ai``. A bare query string (``host=...&password=...``) works too.
    """
    if not isinstance(viewer_url, str) or not viewer_url.strip():
        raise AxiomBadRequestError("viewer_url is empty", hint="Pass the viewer URL /trigger returned")
    text = viewer_url.strip()
    query = urlsplit(text).query if "?" in text else text
    params = parse_qs(query, keep_blank_values=True)
    host = (params.get("host") or [""])[0]
    pw = (params.get("password") or params.get("pw") or [""])[0]
    if not host:
        # the DH-stop example starts with the host itself: "dev-c-0002-v4-proxy.axiom.ai&port=443&..."
        host = text.split("&", 1)[0] if "=" not in text.split("&", 1)[0] else ""
    match = _PID_RE.search(host)
    if not match:
        raise AxiomBadRequestError(
            "viewer_url has no run host of the form c-00NN-...: cannot derive pid",
            hint="Pass the 'OPEN LINK IN BROWSER' URL returned by /trigger",
        )
    if not pw:
        raise AxiomBadRequestError("viewer_url has no password parameter: cannot derive pw")
    return ViewerCredentials(pid=match.group(1)[-2:], pw=pw)


def stop_request(viewer_url: str) -> ApiRequest:
    creds = parse_viewer_url(viewer_url)
    return ApiRequest("/stop", {"pid": creds.pid, "pw": creds.pw}, with_key=False, allow_empty_body=True)


# --------------------------------------------------------------------------- results


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
            triggered_at=_parse_timestamp(str(data["triggered_at"])),
            sent_at=_parse_timestamp(str(data["sent_at"])),
            run_id=data.get("run_id"),
            recovered=bool(data.get("recovered")),
        )


RunStatus = Literal["Running", "Success", "Failure"]


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


# --------------------------------------------------------------------------- parsing


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


def parse_timestamp(value: Any) -> DateTime | None:
    """A UTC DateTime from an ISO 8601 timestamp such as ``2025-04-10T15:14:51.000000Z``."""
    if value in (None, ""):
        return None
    return _parse_timestamp(str(value))


@functools.lru_cache(maxsize=8192)
def _parse_timestamp(text: str) -> DateTime:
    # Cached: every poll re-reads mostly the same reports. Fast path for the documented format.
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return pendulum.instance(parsed).in_timezone("UTC")
    except ValueError:
        pass
    try:
        slow = pendulum.parse(text)
    except (ValueError, pendulum.parsing.exceptions.ParserError) as exc:
        raise AxiomBadResponseError(f"unreadable timestamp {text!r} in run reports") from exc
    if not isinstance(slow, DateTime):
        raise AxiomBadResponseError(f"unreadable timestamp {text!r} in run reports")
    return slow.in_timezone("UTC")


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
    rows = {str(k): [list(r) for r in v] if isinstance(v, list) else v for k, v in data.items()}
    return RunData(status=str(body["status"]), data=rows)


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
        created = parse_timestamp(item.get("created_at"))
        if created is None:
            continue
        out.append(
            RunReport(
                task_name=str(item.get("task_name", "")),
                status=str(item.get("status", "")),
                description=str(item.get("description") or ""),
                created_at=created,
                updated_at=parse_timestamp(item.get("updated_at")),
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


RunState = Literal["running", "success", "failure", "unknown"]

_STATES: dict[str, RunState] = {
    "running": "running",
    "queued": "running",
    "pending": "running",
    "in progress": "running",
    "success": "success",
    "succeeded": "success",
    "completed": "success",
    "warning": "success",  # "Continue on error" runs finish as success with warnings
    "failure": "failure",
    "failed": "failure",
    "error": "failure",
    "stopped": "failure",
    "cancelled": "failure",
}


def run_state(status: str | None) -> RunState:
    """Map a run status (``Running``/``Success``/``Failure``, any case) to a state.

    Unknown values (``Finished`` from an older surface included) map to ``unknown`` so that the
    caller can show them instead of guessing success.
    """
    return _STATES.get((status or "").strip().lower(), "unknown")


def oldest_run_since(reports: Sequence[RunReport], name: str, not_before: DateTime) -> RunReport | None:
    """The first run of ``name`` created at or after ``not_before``: the one a trigger sent then started.

    The oldest, not the newest: a newer one is a run somebody else started after it.
    """
    candidates = [r for r in reports if r.task_name == name and r.created_at >= not_before]
    return min(candidates, key=lambda r: r.created_at) if candidates else None


def closest_names(name: str, names: Sequence[str], limit: int = 3) -> list[str]:
    """Names that differ from ``name`` only by case or spacing first, then near spellings."""
    import difflib

    def squash(s: str) -> str:
        return " ".join(s.split()).casefold()

    exact = [n for n in names if squash(n) == squash(name) and n != name]
    close = difflib.get_close_matches(squash(name), [squash(n) for n in names], n=limit, cutoff=0.6)
    by_squash = {squash(n): n for n in names}
    merged = exact + [by_squash[c] for c in close if by_squash[c] not in exact and by_squash[c] != name]
    return merged[:limit]
