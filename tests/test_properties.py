"""Property tests of the hook's edges: whatever the API answers, and whatever ``data`` a DAG passes.

(a) Any body (bytes or JSON, shaped like an API answer or not) with any status code and odd
headers, on every endpoint, sync and async, gives a parsed result or an ``AxiomError``; never
another exception. (b) Any ``data`` given to ``trigger_automation`` is either sent as normalised
rows (every cell a string, the shape kept) or refused with an ``AxiomBadRequestError`` that names
the row and column (or table) at fault, and then nothing is sent.

Through the ``mock_hook`` fixture: ``httpx.MockTransport`` and fake time, so retries never sleep.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_axiom.exceptions import AxiomBadRequestError, AxiomError
from airflow_provider_axiom.hooks.axiom import AxiomHook

SETTINGS = settings(
    max_examples=int(os.environ.get("AXIOM_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NAME = "Scrape product prices"
VIEWER = "https://vnc.axiom.ai/vnc_lite.html?host=dev-c-0007-v4-proxy.axiom.ai&port=443&password=pw0&taskId=1"

# --------------------------------------------------------------------------- (a) any answer

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
timestamps = st.sampled_from(
    ["2026-11-25T12:00:00.000000Z", "2026-11-25 12:00:00", "yesterday", "", "2026-13-45T99:99:99Z"]
) | st.text(max_size=12)
report_like = st.fixed_dictionaries(
    {},
    optional={
        "task_name": st.sampled_from([NAME, "Other"]) | json_values,
        "status": st.sampled_from(["Running", "Success", "Failure", "Finished", "Queued"]) | json_values,
        "description": json_values,
        "created_at": timestamps | json_values,
        "updated_at": timestamps | json_values,
    },
)
data_like = st.fixed_dictionaries(
    {},
    optional={
        "reports": st.lists(report_like, max_size=4) | json_values,
        "names": st.lists(st.text(max_size=10) | json_values, max_size=4) | json_values,
        "used": json_values,
        "allowance": json_values,
        "remaining": json_values,
    },
)
api_shaped = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["success", "error", "queued", "Running", "Success", "Failure"]) | json_values,
        "message": st.sampled_from(
            ["Rate limit exceeded", "Invalid key", "Quota exceeded", "Task not found", "queue full"]
        )
        | json_values,
        "data": data_like | json_values,
        "OPEN LINK IN BROWSER": st.just(VIEWER) | json_values,
        "stopped": json_values,
        "run_id": json_values,
        "errors": json_values,
        "detail": json_values,
    },
)
_REPORT = {
    "task_name": NAME,
    "status": "Success",
    "description": "done",
    "created_at": "2026-11-25T12:00:00.000000Z",
    "updated_at": "2026-11-25T12:00:05.000000Z",
}
#: A valid answer of each endpoint; the property mutates them.
TEMPLATES: dict[str, list[Any]] = {
    "trigger": [
        {"OPEN LINK IN BROWSER": VIEWER},
        {"status": "queued", "message": "Axiom could not start due to a lack of available resources."},
    ],
    "run-data": [{"status": "Running", "data": {}}, {"status": "Success", "data": {"sheet": [["a"], ["1"]]}}],
    "run-reports": [{"status": "success", "data": {"reports": [_REPORT, {**_REPORT, "status": "Running"}]}}],
    "list-automations": [{"status": "success", "data": {"names": [NAME, "Export leads"]}}],
    "remaining-runtime": [{"status": "success", "data": {"used": 10, "allowance": 15000, "remaining": 14990}}],
    "stop": [{"stopped": "07"}],
    "error": [{"status": "error", "message": "Rate limit exceeded. Try again in a few seconds."}],
}


@st.composite
def near_valid(draw: st.DrawFn, endpoint: str) -> Any:
    """A valid answer of ``endpoint`` (or an error, or another endpoint's) with values replaced or removed."""

    def mutate(value: Any) -> Any:
        if draw(st.integers(0, 5)) == 0:
            return draw(json_values)
        if isinstance(value, dict):
            return {k: mutate(v) for k, v in value.items() if draw(st.integers(0, 7)) != 0}
        if isinstance(value, list):
            return [mutate(v) for v in value]
        return value

    family = draw(st.sampled_from([endpoint] * 6 + sorted(TEMPLATES)))
    return mutate(draw(st.sampled_from(TEMPLATES[family])))


def bodies(endpoint: str) -> st.SearchStrategy[bytes]:
    near = near_valid(endpoint).map(lambda v: json.dumps(v).encode())
    return st.one_of(near, near, near, near, other_bodies)


other_bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    api_shaped.map(lambda v: json.dumps(v).encode()),
    api_shaped.map(lambda v: json.dumps(v).encode()[: max(1, len(json.dumps(v)) // 2)]),  # truncated
    st.just(b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
)
COMMON_STATUSES = [200] * 8 + [201, 204, 301, 400, 401, 402, 403, 404, 408, 410, 429, 500, 502, 503]
statuses = st.sampled_from(COMMON_STATUSES) | st.integers(min_value=100, max_value=599)
header_sets = st.fixed_dictionaries(
    {},
    optional={
        "Retry-After": st.sampled_from(["1", "0", "-5", "1e9", "soon", "Wed, 25 Nov 2026 12:00:05 GMT"]),
        "Date": st.sampled_from(["Wed, 25 Nov 2026 12:00:01 GMT", "not a date", ""]),
        "Content-Type": st.sampled_from(["application/json", "text/html", "application/problem+json"]),
    },
)


def answers(endpoint: str) -> st.SearchStrategy[tuple[int, bytes, dict[str, str]]]:
    return st.tuples(statuses, bodies(endpoint), header_sets)


CALLS: dict[str, Callable[[AxiomHook], Any]] = {
    "trigger": lambda h: h.trigger_automation(NAME, [["url"], ["https://example.com"]]),
    "trigger-no-data": lambda h: h.trigger_automation(NAME),
    "run-data": lambda h: h.get_run_data(NAME),
    "run-data-by-id": lambda h: h.get_run_data(run_id="run_000001"),
    "run-reports": lambda h: h.get_run_reports(count=20),
    "list-automations": lambda h: h.list_automations(),
    "remaining-runtime": lambda h: h.get_remaining_runtime(),
    "stop": lambda h: h.stop_run(VIEWER),
}
ACALLS: dict[str, Callable[[AxiomHook], Any]] = {
    "trigger": lambda h: h.atrigger_automation(NAME, [["url"], ["https://example.com"]]),
    "trigger-no-data": lambda h: h.atrigger_automation(NAME),
    "run-data": lambda h: h.aget_run_data(NAME),
    "run-data-by-id": lambda h: h.aget_run_data(run_id="run_000001"),
    "run-reports": lambda h: h.aget_run_reports(count=20),
    "list-automations": lambda h: h.alist_automations(),
    "remaining-runtime": lambda h: h.aget_remaining_runtime(),
    "stop": lambda h: h.astop_run(VIEWER),
}


def _looks_parsed(call: str, result: Any) -> bool:
    """A result of the endpoint's kind (checked by attributes, not by class, so module moves do not matter)."""
    if call.startswith("trigger"):
        return isinstance(getattr(result, "status", None), str) and hasattr(result, "viewer_url")
    if call.startswith("run-data"):
        return isinstance(getattr(result, "status", None), str) and hasattr(result, "data")
    if call == "run-reports":
        return isinstance(result, list) and all(hasattr(r, "task_name") and hasattr(r, "status") for r in result)
    if call == "list-automations":
        return isinstance(result, list) and all(isinstance(n, str) for n in result)
    if call == "remaining-runtime":
        return all(hasattr(result, f) for f in ("used", "allowance", "remaining"))
    return result is not None  # stop


def _scripted(script: Sequence[tuple[int, bytes, dict[str, str]]]) -> Callable[[httpx.Request], httpx.Response]:
    """Answer each request with the next scripted answer (the last one repeats)."""
    position = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal position
        status, body, headers = script[min(position, len(script) - 1)]
        position += 1
        return httpx.Response(status, content=body, headers=headers)

    return handler


@pytest.mark.parametrize("call", sorted(CALLS))
@SETTINGS
@given(asynchronous=st.booleans(), data=st.data())
def test_any_answer_gives_a_result_or_an_axiom_error(mock_hook, call, asynchronous, data):
    endpoint = call.removesuffix("-no-data").removesuffix("-by-id")
    script = data.draw(st.lists(answers(endpoint), min_size=1, max_size=4), label="answers")
    hook = mock_hook(_scripted(script), max_retries=2)
    try:
        if asynchronous:

            async def run() -> Any:
                async with hook:
                    return await ACALLS[call](hook)

            result = asyncio.run(run())
        else:
            with hook:
                result = CALLS[call](hook)
    except AxiomError as err:
        assert str(err)  # it renders
        assert "sk-test-9f8e7d6c5b4a" not in str(err)  # the key of tests/conftest.py
        return
    assert _looks_parsed(call, result), (call, result)


# --------------------------------------------------------------------------- (b) any data

good_cells = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10)
)
bad_cells = (
    st.binary(max_size=4)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    | st.sampled_from([math.nan, math.inf, -math.inf, object(), {1, 2}, 1j])
    | st.lists(st.integers(), max_size=2)
)
cells = st.one_of(good_cells, good_cells, good_cells, good_cells, bad_cells)


def _rows_of_width(cell: st.SearchStrategy[Any]) -> st.SearchStrategy[list[list[Any]]]:
    return st.integers(min_value=1, max_value=3).flatmap(
        lambda w: st.lists(st.lists(cell, min_size=w, max_size=w), min_size=1, max_size=4)
    )


ragged_rows = st.lists(st.lists(cells, max_size=3) | cells, min_size=0, max_size=4)
tables_2d = _rows_of_width(good_cells) | _rows_of_width(cells) | ragged_rows
data_values = st.one_of(
    tables_2d,
    st.lists(_rows_of_width(good_cells), min_size=1, max_size=3),  # 3-D, valid
    st.lists(tables_2d, min_size=1, max_size=3),  # 3-D, maybe faulty
    st.lists(tables_2d | st.lists(cells, max_size=2), min_size=1, max_size=3),  # mixed shapes
    tables_2d.map(tuple),
    json_values,
    st.text(max_size=10),
    st.binary(max_size=5),
)


def _is_seq(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


def _cell_ok(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, str)):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _table_faults(table: Any, t: int | None) -> set[tuple[int | None, int, int | None]]:
    """(table, row, column) positions at fault in one table; column None for a whole-row fault."""
    if not _is_seq(table) or len(table) == 0:
        return {(t, -1, None)}  # the table itself
    faults: set[tuple[int | None, int, int | None]] = set()
    width = len(table[0]) if _is_seq(table[0]) else None
    for r, row in enumerate(table):
        if not _is_seq(row) or len(row) == 0 or (width is not None and len(row) != width):
            faults.add((t, r, None))
            if not _is_seq(row):
                continue
        faults.update((t, r, c) for c, cell in enumerate(row) if not _cell_ok(cell))
    return faults


def _expected_faults(data: Any) -> tuple[str, set[tuple[int | None, int, int | None]]]:
    """``("ok" | "data" | "mixed" | "cells", faults)`` as the API's input rules define them."""
    if not _is_seq(data) or len(data) == 0:
        return "data", set()
    is_table = [_is_seq(item) and len(item) > 0 and all(_is_seq(r) for r in item) for item in data]
    if all(is_table):
        faults = set().union(*(_table_faults(table, t) for t, table in enumerate(data)))
    elif any(is_table):
        return "mixed", set()
    else:
        faults = _table_faults(data, None)
    return ("cells" if faults else "ok"), faults


def _named(message: str, word: str) -> set[int]:
    return {int(n) for n in re.findall(rf"\b{word} (\d+)", message)}


def _expected_cell(value: Any, sent: Any) -> bool:
    if not isinstance(sent, str):
        return False
    if value is None:
        return sent == ""
    if isinstance(value, bool):
        return sent == ("true" if value else "false")
    if isinstance(value, (int, str)):
        return sent == str(value)
    return float(sent) == value


def _check_sent(data: Any, sent: Any) -> None:
    assert _is_seq(sent) and len(sent) == len(data)
    is_3d = all(_is_seq(item) and len(item) > 0 and all(_is_seq(r) for r in item) for item in data)
    for table, sent_table in zip(data if is_3d else [data], sent if is_3d else [sent], strict=True):
        assert len(sent_table) == len(table)
        for row, sent_row in zip(table, sent_table, strict=True):
            assert len(sent_row) == len(row)
            for value, cell in zip(row, sent_row, strict=True):
                assert _expected_cell(value, cell), (value, cell)


TRIGGER_OK = {"OPEN LINK IN BROWSER": VIEWER}


@SETTINGS
@given(data=data_values)
def test_any_data_is_sent_normalised_or_refused_naming_the_fault(mock_hook, data):
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=TRIGGER_OK)

    kind, faults = _expected_faults(data) if data is not None else ("ok", set())
    try:
        with mock_hook(handler) as hook:
            hook.trigger_automation(NAME, data)
    except AxiomBadRequestError as err:
        message = str(err)
        assert sent == [], "nothing is sent when the input is refused"
        assert kind != "ok", f"valid data refused: {data!r}: {message}"
        if kind == "data":
            assert "data" in message, message
        elif kind == "mixed":
            assert "table" in message, message
        else:
            tables, rows, columns = _named(message, "table"), _named(message, "row"), _named(message, "column")
            named = {
                (t, r, c)
                for (t, r, c) in faults
                if (t is None or t in tables)
                and (r == -1 or r in rows)
                and (c is None or c in columns)
                and (r != -1 or t is not None)
            }
            assert named, f"{message!r} names none of the faults {sorted(faults, key=str)} of {data!r}"
        return
    assert kind == "ok", f"faulty data was accepted ({kind}: {sorted(faults, key=str)}): {data!r}"
    assert len(sent) == 1
    if data is None:
        assert "data" not in sent[0]
    else:
        _check_sent(data, sent[0]["data"])


@pytest.mark.parametrize(
    "data, words",
    [
        ([["a", "b"], ["c", b"x"]], ["row 1", "column 1"]),
        ([["a"], ["b", "c"]], ["row 1"]),
        ([[["a"]], [["b"], [float("nan")]]], ["table 1", "row 1", "column 0"]),
        ([[["a"]], ["b"]], ["table"]),
    ],
)
def test_examples_of_refused_data(mock_hook, data, words):
    """Anchors for the property above: the messages it parses look like this."""
    hook = mock_hook(lambda request: pytest.fail("nothing may be sent"))
    with pytest.raises(AxiomBadRequestError) as caught:
        hook.trigger_automation(NAME, data)
    for word in words:
        assert word in str(caught.value)
