"""Documented response shapes, messages and status codes, key for key and in capitalisation."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest
from emu_helpers import KEY, REPORT_TIME_RE, VIEWER_RE, scenario

QUEUED = {
    "status": "queued",
    "message": (
        "Axiom could not start due to a lack of available resources. "
        "The task has been queued and will retry in five minutes."
    ),
}
STARTED = "Execution started with Axiom cloud version 4.6.0 (remotely triggered)"


def test_trigger_started_is_only_the_viewer_link(api):
    response = api.call("trigger", name="Export leads")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["OPEN LINK IN BROWSER"]  # no status field
    match = VIEWER_RE.match(body["OPEN LINK IN BROWSER"])
    assert match, body
    run = api.emu.runs()[0]
    assert (run["pid"], run["pw"]) == (match["pid"], match["pw"])
    assert len(match["pid"]) == 2


def test_trigger_queued_shape(api):
    api.trigger("Export leads")
    response = api.call("trigger", name="Scrape product prices")
    assert response.status_code == 200
    assert response.json() == QUEUED


def test_run_data_shapes_through_a_run(api):
    api.trigger("Export leads")
    assert api.run_data("Export leads") == {"status": "Running", "data": {}}
    api.emu.advance(5)
    assert api.run_data("Export leads") == {
        "status": "Success",
        "data": {"google-sheet-data": [["name", "email"], ["Ada", "ada@example.com"]]},
    }


def test_run_data_failure_has_empty_data(api):
    api.trigger("Broken checkout flow")
    api.emu.advance(5)
    assert api.run_data("Broken checkout flow") == {"status": "Failure", "data": {}}


def test_run_data_no_writer_gives_empty_object(make_api):
    api = make_api(automations=[{"name": "Quiet", "duration": 1}])
    api.trigger("Quiet")
    api.emu.advance(1)
    assert api.run_data("Quiet") == {"status": "Success", "data": {}}


def test_echo_input_2d_and_3d(api):
    api.trigger("Scrape product prices", data=[["url"], ["https://example.com/1"], [1, 2.5, True]])
    api.emu.advance(3)
    assert api.run_data("Scrape product prices")["data"] == {
        "google-sheet-data": [["url"], ["https://example.com/1"], ["1", "2.5", "true"]]
    }
    api.trigger("Scrape product prices", data=[[["asin"], ["B00X"]], [["ignored"]]])
    api.emu.advance(3)
    assert api.run_data("Scrape product prices")["data"] == {"google-sheet-data": [["asin"], ["B00X"]]}


def test_echo_merges_over_output(make_api):
    api = make_api(
        automations=[
            {
                "name": "Both",
                "duration": 1,
                "echo_input": True,
                "output": {"google-sheet-data": [["old"]], "prices": [["1"]]},
            }
        ]
    )
    api.trigger("Both", data=[["new"]])
    api.emu.advance(1)
    assert api.run_data("Both")["data"] == {"google-sheet-data": [["new"]], "prices": [["1"]]}


def test_run_reports_shape_and_order(api):
    api.trigger("Export leads")
    api.emu.advance(10)
    api.trigger("Broken checkout flow")
    api.emu.advance(10)
    api.trigger("Scrape product prices")
    response = api.call("run-reports")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["status", "data"] and body["status"] == "success"
    reports = body["data"]["reports"]
    assert [list(r) for r in reports] == [["task_name", "status", "description", "created_at", "updated_at"]] * 3
    assert [(r["task_name"], r["status"]) for r in reports] == [
        ("Scrape product prices", "Running"),
        ("Broken checkout flow", "Failure"),
        ("Export leads", "Success"),
    ]
    assert reports[0]["description"] == STARTED
    assert reports[1]["description"] == (
        STARTED + "\n\nAxiom run failed: Error: No element found for selector: #checkout-button\n"
        "    at Step 3 (Click element) of Broken checkout flow"
    )
    assert reports[2]["description"] == STARTED + "\n\nAxiom run completed successfully!"
    assert reports[2] == {
        "task_name": "Export leads",
        "status": "Success",
        "description": STARTED + "\n\nAxiom run completed successfully!",
        "created_at": "2025-04-10T15:14:51.000000Z",
        "updated_at": "2025-04-10T15:14:56.000000Z",
    }
    for report in reports:
        assert REPORT_TIME_RE.match(report["created_at"]) and REPORT_TIME_RE.match(report["updated_at"])


def test_report_timestamps_are_truncated_to_whole_seconds(make_api):
    api = make_api(start_time="2025-04-10T15:14:51.987654Z")
    api.trigger("Export leads")
    api.emu.advance(0.5)
    report = api.reports()[0]
    assert report["created_at"] == report["updated_at"] == "2025-04-10T15:14:51.000000Z"


def test_run_reports_count(api):
    for _ in range(7):
        api.trigger("Export leads")
        api.emu.advance(5)
    assert len(api.reports()) == 5  # default
    assert len(api.reports(count=2)) == 2
    assert len(api.reports(count=50)) == 7
    for bad in (0, -1, "3", True, 1.5):
        response = api.call("run-reports", count=bad)
        assert response.status_code == 400
        assert response.json() == {"status": "error", "message": "count must be a positive integer."}


def test_list_automations(api):
    assert api.json("list-automations") == {
        "status": "success",
        "data": {"names": ["Scrape product prices", "Export leads", "Broken checkout flow"]},
    }


def test_remaining_runtime_documented_values(make_api):
    api = make_api(plan={"used_minutes": 12.25})
    assert api.json("remaining-runtime") == {
        "status": "success",
        "data": {"used": 12.25, "allowance": 15000, "remaining": 14987.75},
    }


def test_runtime_is_consumed_while_running(api):
    api.trigger("Export leads")
    api.emu.advance(3)
    assert api.json("remaining-runtime")["data"] == {"used": 0.05, "allowance": 15000, "remaining": 14999.95}
    api.emu.advance(60)
    assert api.json("remaining-runtime")["data"]["used"] == 0.08  # 5 s run: 5/60 minutes


def test_date_header_is_emulated_rfc7231(api):
    response = api.call("list-automations")
    assert response.headers["Date"] == "Thu, 10 Apr 2025 15:14:51 GMT"
    api.emu.advance(3600)
    response = api.call("list-automations")
    assert parsedate_to_datetime(response.headers["Date"]) == api.emu.now().replace(microsecond=0)
    assert response.headers["Content-Type"].startswith("application/json")
    assert api.call("nope").headers["Date"] == "Thu, 10 Apr 2025 16:14:51 GMT"


ERRORS = [
    ("trigger", {"key": "wrong", "name": "Export leads"}, 401, "Invalid key"),
    ("trigger", {"name": "Export leads"}, 401, "Unable to authenticate, you must send an API key."),
    ("run-data", {"key": "", "name": "Export leads"}, 401, "Unable to authenticate, you must send an API key."),
    ("list-automations", {"key": "wrong"}, 401, "Invalid key"),
    ("remaining-runtime", {}, 401, "Unable to authenticate, you must send an API key."),
    ("run-reports", {"key": "wrong"}, 401, "Invalid key"),
    (
        "trigger",
        {"key": KEY},
        400,
        "Missing task name, you must send the name of the task that you wish to trigger.",
    ),
    (
        "trigger",
        {"key": KEY, "name": ""},
        400,
        "Missing task name, you must send the name of the task that you wish to trigger.",
    ),
    ("trigger", {"key": KEY, "name": "export leads"}, 404, "Task not found, please check the name and try again."),
    ("trigger", {"key": KEY, "name": "Export  leads"}, 404, "Task not found, please check the name and try again."),
    ("trigger", {"key": KEY, "name": " Export leads"}, 404, "Task not found, please check the name and try again."),
    ("run-data", {"key": KEY, "name": "Nope"}, 404, "Task not found, please check the name and try again."),
    ("run-data", {"key": KEY, "name": "Export leads"}, 404, "Run not found"),
    ("trigger", {"key": KEY, "name": "Export leads", "data": "a,b"}, 400, "Data must be sent as an array of arrays."),
    (
        "trigger",
        {"key": KEY, "name": "Export leads", "data": ["a", "b"]},
        400,
        "Data must be sent as an array of arrays.",
    ),
    (
        "trigger",
        {"key": KEY, "name": "Export leads", "data": {"a": 1}},
        400,
        "Data must be sent as an array of arrays.",
    ),
    (
        "trigger",
        {"key": KEY, "name": "Export leads", "data": [["a", None]]},
        400,
        "Data must be sent as an array of arrays.",
    ),
    (
        "trigger",
        {"key": KEY, "name": "Export leads", "data": [["a", {"b": 1}]]},
        400,
        "Data must be sent as an array of arrays.",
    ),
    (
        "trigger",
        {"key": KEY, "name": "Export leads", "data": [["a"], [["b"]]]},
        400,
        "Data must be sent as an array of arrays.",
    ),
    (
        "trigger",
        {"key": KEY, "name": "Export leads", "data": [[["a", ["b"]]]]},
        400,
        "Data must be sent as an array of arrays.",
    ),
    ("stop", {}, 400, "Missing pid or pw."),
    ("stop", {"pid": "01"}, 400, "Missing pid or pw."),
    ("stop", {"pid": "01", "pw": "nope"}, 404, "Run not found"),
]


@pytest.mark.parametrize(("endpoint", "body", "status", "message"), ERRORS)
def test_error_table(api, endpoint, body, status, message):
    response = api.post(endpoint, body)
    assert response.status_code == status
    assert response.json() == {"status": "error", "message": message}
    assert api.emu.runs() == []


def test_invalid_json_body(api):
    for raw in (b"{", b"not json", b"[1, 2]", b"\xff\xfe"):
        response = api.http.post("/trigger", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.json() == {"status": "error", "message": "Request body must be valid JSON."}


def test_non_json_content_type_is_an_empty_body(api):
    response = api.http.post("/trigger", content=b'{"key": "test-key", "name": "Export leads"}')
    assert response.status_code == 401
    assert response.json()["message"] == "Unable to authenticate, you must send an API key."


def test_unknown_path_and_method(api):
    for response in (api.call("nope"), api.http.get("/trigger"), api.http.post("/../x", json={})):
        assert response.status_code == 404
        assert response.json() == {"status": "error", "message": "Not found"}
    assert api.http.post(api.emu.url + "/elsewhere", json={}).status_code == 404


def test_both_data_shapes_are_accepted(api):
    assert "OPEN LINK IN BROWSER" in api.trigger("Export leads", data=[["a", "b"], ["c", "d"]])
    api.emu.advance(5)
    assert "OPEN LINK IN BROWSER" in api.trigger("Export leads", data=[[["a", "b"], ["c", "d"]]])
    api.emu.advance(5)
    assert "OPEN LINK IN BROWSER" in api.trigger("Export leads", data=[])
    assert [r["input_data"] for r in api.emu.runs()] == [
        [["a", "b"], ["c", "d"]],
        [[["a", "b"], ["c", "d"]]],
        [],
    ]


def test_quota_exceeded(make_api):
    api = make_api(plan={"allowance_minutes": 1}, automations=[{"name": "Long", "duration": 600}])
    api.trigger("Long")
    api.emu.advance(60)  # the running run has used the whole minute
    response = api.call("trigger", name="Long")
    assert response.status_code == 403
    assert response.json() == {"status": "error", "message": "Quota exceeded"}
    assert api.json("remaining-runtime")["data"] == {"used": 1, "allowance": 1, "remaining": 0}
    assert len(api.emu.runs()) == 1


def test_errors_with_http_200(make_api):
    api = make_api(errors_with_http_200=True)
    response = api.call("trigger", name="Nope")
    assert response.status_code == 200
    assert response.json() == {"status": "error", "message": "Task not found, please check the name and try again."}
    assert api.call("trigger", key="wrong", name="x").status_code == 200
    assert api.call("nope").status_code == 404  # unknown paths stay 404


def test_auth_message_switches(make_api):
    api = make_api(
        invalid_key_message="Unable to authenticate, please check your API key and try again.",
        missing_key_status=403,
    )
    response = api.call("list-automations", key="wrong")
    assert (response.status_code, response.json()["message"]) == (
        401,
        "Unable to authenticate, please check your API key and try again.",
    )
    assert api.call("list-automations", key=None).status_code == 403


def test_status_vocabulary_finished(make_api):
    api = make_api(status_vocabulary="finished")
    api.trigger("Broken checkout flow")
    assert api.run_data("Broken checkout flow")["status"] == "Running"
    api.emu.advance(5)
    assert api.run_data("Broken checkout flow") == {"status": "Finished", "data": {}}
    api.trigger("Export leads")
    api.emu.advance(5)
    assert api.run_data("Export leads")["status"] == "Finished"
    assert [r["status"] for r in api.reports()] == ["Success", "Failure"]  # reports keep the documented three


def test_old_viewer_host_style(make_api):
    api = make_api(viewer_host_style="old")
    url = api.trigger("Export leads")["OPEN LINK IN BROWSER"]
    assert "?host=c-0001-v4-proxy.axiom.ai&port=443&autoconnect=true&password=" in url


def test_names_are_exact(make_api):
    api = make_api(automations=[{"name": "My Automation"}, {"name": "my automation"}], plan={"concurrency": 2})
    assert "OPEN LINK IN BROWSER" in api.trigger("My Automation")
    assert "OPEN LINK IN BROWSER" in api.trigger("my automation")  # a different automation: not queued
    assert api.call("trigger", name="My  Automation").status_code == 404


def test_history_is_the_latest_run_until_a_trigger(make_api):
    old = {"google-sheet-data": [["name"], ["Old"]]}
    api = make_api(
        scenario(
            automations=[{"name": "Export leads", "duration": 10, "output": {"google-sheet-data": [["New"]]}}],
            history=[
                {"name": "Export leads", "status": "Failure", "minutes_ago": 120},
                {"name": "Export leads", "status": "Success", "minutes_ago": 60, "output": old},
            ],
        )
    )
    assert api.run_data("Export leads") == {"status": "Success", "data": old}
    reports = api.reports()
    assert [(r["status"], r["updated_at"]) for r in reports] == [
        ("Success", "2025-04-10T14:14:51.000000Z"),
        ("Failure", "2025-04-10T13:14:51.000000Z"),
    ]
    assert reports[0]["created_at"] == "2025-04-10T14:14:41.000000Z"
    api.trigger("Export leads")
    assert api.run_data("Export leads") == {"status": "Running", "data": {}}
    api.emu.advance(10)
    assert api.run_data("Export leads")["data"] == {"google-sheet-data": [["New"]]}


def test_latest_saved_version_runs(api):
    api.trigger("Export leads")
    api.trigger("Export leads")  # queued
    api.emu.add_automation("Export leads", duration=1, outcome="Failure", failure_message="changed")
    api.emu.advance(300)
    api.emu.advance(1)
    runs = api.emu.runs("Export leads")
    assert [r["status"] for r in runs] == ["Success", "Failure"]  # first kept its snapshot
    assert runs[1]["description"].endswith("Axiom run failed: changed")
