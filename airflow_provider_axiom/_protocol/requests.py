"""Requests: input validation and request building, pure. Nothing is sent here.

The API key never appears in a request object; ``ApiRequest.encode`` adds it when the transport
sends. Bad input raises :class:`AxiomBadRequestError` naming the field, table, row and column,
before anything is sent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_axiom.exceptions import AxiomBadRequestError

VIEWER_LINK_KEY = "OPEN LINK IN BROWSER"

Rows = list[list[str]]


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
    """``/run-data`` by ``name`` (documented); a ``run_id`` (undocumented) goes beside it (alone without a name)."""
    if run_id and not name:
        return ApiRequest("/run-data", {"run_id": str(run_id)})
    body: dict[str, Any] = {"name": validate_name(name)}
    if run_id:
        body["run_id"] = str(run_id)
    return ApiRequest("/run-data", body)


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
    pw = viewer_password(text) or ""
    if not host:
        # the documented /stop example starts with the host itself: "dev-c-0002-v4-proxy.axiom.ai&port=443&..."
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


def viewer_password(viewer_url: str | None) -> str | None:
    """The viewer link's password (what opens the live browser, and ``/stop``'s ``pw``), or None."""
    if not viewer_url:
        return None
    text = viewer_url.strip()
    params = parse_qs(urlsplit(text).query if "?" in text else text, keep_blank_values=True)
    found = params.get("password") or params.get("pw") or [""]
    return found[0] or None


#: What a masked password reads as (as Airflow's masker shows it).
MASK = "***"
#: The viewer link's password parameter, whose value ``viewer_link_masked`` hides.
_PASSWORD_PARAM = re.compile(r"(^|[?&])(password|pw)=[^&#]*")


def viewer_link_masked(viewer_url: str) -> str:
    """The viewer link with its password shown as ``***`` (safe for a log, an error message or an event)."""
    if not viewer_password(viewer_url):
        return viewer_url
    return _PASSWORD_PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}={MASK}", viewer_url)


def whole_link(link: object) -> str | None:
    """``link`` when it can open the viewer and stop the run; None when it is absent or its password masked."""
    if not isinstance(link, str) or not link or viewer_password(link) == MASK:
        return None
    return link


def stop_request(viewer_url: str | None = None, run_id: str | None = None) -> ApiRequest:
    """``/stop`` by ``pid``/``pw`` read from the viewer URL (documented), else by the API's run id (undocumented)."""
    if not viewer_url and run_id:
        return ApiRequest("/stop", {"run_id": str(run_id)}, allow_empty_body=True)
    if not viewer_url:
        raise AxiomBadRequestError("stopping a run needs its viewer URL or its run id")
    creds = parse_viewer_url(viewer_url)
    return ApiRequest("/stop", {"pid": creds.pid, "pw": creds.pw}, with_key=False, allow_empty_body=True)


def stop_target(request: ApiRequest) -> str:
    """What a :func:`stop_request` names: the viewer's ``pid``, else the run id (a ``StopResult``'s ``pid``)."""
    return str(request.body.get("pid") or request.body.get("run_id"))
