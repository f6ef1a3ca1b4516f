"""Pure parts: input validation, viewer URLs, response parsing (run identity: test_run_identity.py)."""

from __future__ import annotations

import pendulum
import pytest

from airflow_provider_axiom._protocol import (
    closest_names,
    normalize_data,
    parse_run_data,
    parse_run_reports,
    parse_trigger,
    parse_viewer_url,
    run_state,
    stop_request,
    trigger_request,
)
from airflow_provider_axiom.exceptions import AxiomApiError, AxiomBadRequestError

T0 = pendulum.datetime(2026, 11, 25, 12, 0, 0, tz="UTC")


# ---------------------------------------------------------------- input data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, None),
        ([["url"], ["https://example.com/1"]], [["url"], ["https://example.com/1"]]),
        ([["a", 1, 2.5, True, False, None]], [["a", "1", "2.5", "true", "false", ""]]),
        ([[3.0, -0.0, 1e20]], [["3", "0", "1e+20"]]),
        (((("x", "y"),),), [[["x", "y"]]]),  # tuples are fine; 3-D passed through as 3-D
        ([[["h1", "h2"], ["v1", "v2"]], [["only"]]], [[["h1", "h2"], ["v1", "v2"]], [["only"]]]),
    ],
)
def test_good_data_is_coerced_and_keeps_its_shape(data, expected):
    assert normalize_data(data) == expected


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("a,b", "data must be a list of rows, got str"),
        ({"a": 1}, "data must be a list of rows, got dict"),
        ([], "data is an empty list"),
        ([["a"], []], "row 1 is empty"),
        ([["a", "b"], ["c"]], "row 1 has 1 cells but row 0 of the same table has 2"),
        ([["a", {"k": 1}]], "row 0, column 1 is a dict"),
        ([["a", "x"], ["b", b"bytes"]], "row 1, column 1 is a bytes"),
        ([["ok"], ["ok", "x", object()]], "row 1 has 3 cells"),
        ([[["t0"]], [["t1", ["nested"]]]], "table 1, row 0, column 1 is a list"),
        ([[float("nan")]], "row 0, column 0 is nan"),
        (["abc"], "row 0 is a str, not a list of cells"),
        ([[["a"]], ["b"]], "data mixes tables and rows"),
        ([[[]]], "table 0, row 0 is empty"),
    ],
)
def test_bad_data_names_the_field_row_and_column(data, needle):
    with pytest.raises(AxiomBadRequestError) as exc:
        normalize_data(data)
    assert needle in str(exc.value)
    assert not exc.value.retryable


@pytest.mark.parametrize("name", ["", "   ", None, 42])
def test_bad_names_are_rejected(name):
    with pytest.raises(AxiomBadRequestError, match="automation_name"):
        trigger_request(name)


def test_trigger_request_never_holds_the_key():
    req = trigger_request("Scrape", [["a"]])
    assert "key" not in req.body
    assert b'"key":"k-123"' in req.encode("k-123")
    assert "k-123" not in repr(req)


# ---------------------------------------------------------------- viewer URLs


@pytest.mark.parametrize(
    ("url", "pid", "pw"),
    [
        (
            "https://vnc.axiom.ai/vnc_lite.html?host=dev-c-0002-v4-proxy.axiom.ai&port=443&password=abc123xyz"
            "&taskId=22842",
            "02",
            "abc123xyz",
        ),
        ("https://vnc.axiom.ai/vnc_lite.html?host=c-0017-v4-proxy.axiom.ai&port=443&password=P%2Fw", "17", "P/w"),
        ("dev-c-0002-v4-proxy.axiom.ai&port=443&password=abc123xyz&taskId=22842", "02", "abc123xyz"),
        ("host=c-0042-v4-proxy.axiom.ai&password=zz", "42", "zz"),
    ],
)
def test_viewer_url_forms(url, pid, pw):
    creds = parse_viewer_url(url)
    assert (creds.pid, creds.pw) == (pid, pw)
    assert pw not in repr(creds)
    req = stop_request(url)
    assert req.body == {"pid": pid, "pw": pw} and not req.with_key


@pytest.mark.parametrize(
    "url",
    [
        "",
        "https://vnc.axiom.ai/vnc_lite.html?host=v4-proxy-7-axiom-ai&port=443&password=x",
        "https://vnc.axiom.ai/vnc_lite.html?host=dev-c-0002-v4-proxy.axiom.ai&port=443",
    ],
)
def test_unusable_viewer_urls_fail_before_sending(url):
    with pytest.raises(AxiomBadRequestError):
        stop_request(url)


# ---------------------------------------------------------------- parsing


def test_parse_trigger_shapes():
    started = parse_trigger({"OPEN LINK IN BROWSER": "https://v"}, automation_name="A", triggered_at=T0, sent_at=T0)
    assert (started.status, started.viewer_url, started.run_id) == ("started", "https://v", None)
    queued = parse_trigger(
        {"status": "queued", "message": "will retry in five minutes"}, automation_name="A", triggered_at=T0, sent_at=T0
    )
    assert (queued.status, queued.viewer_url, queued.message) == ("queued", None, "will retry in five minutes")
    with_id = parse_trigger(
        {"OPEN LINK IN BROWSER": "https://v", "run_id": 17}, automation_name="A", triggered_at=T0, sent_at=T0
    )
    assert with_id.run_id == "17"
    assert with_id.to_dict()["triggered_at"] == "2026-11-25T12:00:00+00:00"
    with pytest.raises(AxiomApiError, match="unexpected answer shape"):
        parse_trigger({"hello": 1}, automation_name="A", triggered_at=T0, sent_at=T0)


def test_parse_run_data_keeps_unknown_statuses_visible():
    run = parse_run_data({"status": "Finished", "data": {"sheet": [["a"]]}})
    assert run.status == "Finished" and run.data == {"sheet": [["a"]]}
    assert run_state(run.status) == "unknown"
    assert run_state("Success") == run_state("success") == "success"
    assert run_state("Running") == "running" and run_state("Failure") == "failure"


def test_parse_run_reports_sorts_newest_first_and_reads_timestamps():
    reports = parse_run_reports(
        {
            "status": "success",
            "data": {
                "reports": [
                    {
                        "task_name": "A",
                        "status": "Success",
                        "description": "d",
                        "created_at": "2025-04-10T15:14:51.000000Z",
                        "updated_at": "2025-04-10T15:15:00.000000Z",
                    },
                    {
                        "task_name": "B",
                        "status": "Running",
                        "description": "",
                        "created_at": "2025-04-10T15:20:00.000000Z",
                        "updated_at": None,
                    },
                ]
            },
        }
    )
    assert [r.task_name for r in reports] == ["B", "A"]
    assert reports[1].created_at == pendulum.datetime(2025, 4, 10, 15, 14, 51, tz="UTC")
    assert reports[0].updated_at is None


def test_closest_names_prefers_case_and_space_mismatches():
    names = ["Scrape product prices", "Export leads", "Scrape  Product Prices v2"]
    assert closest_names("scrape product  prices", names)[0] == "Scrape product prices"
    assert closest_names("Export lead", names)[0] == "Export leads"
    assert closest_names("zzz", names) == []
