"""/stop by pid/pw from the viewer URL, and the run-id readings (``run_ids``)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from emu_helpers import VIEWER_RE


def pid_pw(viewer_url: str) -> tuple[str, str]:
    """The documented recipe: pid = last two digits of the host's c-00NN label, pw = password param."""
    query = parse_qs(urlsplit(viewer_url).query)
    host = query["host"][0]
    label = host.split("-v4-proxy")[0]
    return label[-2:], query["password"][0]


def test_stop_a_running_run(api):
    url = api.trigger("Export leads")["OPEN LINK IN BROWSER"]
    pid, pw = pid_pw(url)
    api.emu.advance(3)
    response = api.post("stop", {"pid": pid, "pw": pw})
    assert response.status_code == 200
    assert response.json() == {"stopped": pid}
    assert api.run_data("Export leads") == {"status": "Failure", "data": {}}
    report = api.reports()[0]
    assert report["status"] == "Failure"
    assert report["description"] == (
        "Execution started with Axiom cloud version 4.6.0 (remotely triggered)\n\nRun stopped by user."
    )
    assert report["updated_at"] == "2025-04-10T15:14:54.000000Z"
    assert api.json("remaining-runtime")["data"]["used"] == 0.05  # 3 s executed still count
    run = api.emu.runs()[0]
    assert run["stopped"] and run["status"] == "Failure"
    api.emu.advance(100)
    assert api.emu.runs()[0]["finished_at"] == "2025-04-10T15:14:54.000000Z"


def test_stopping_a_finished_run_is_a_noop(api):
    pid, pw = pid_pw(api.trigger("Export leads")["OPEN LINK IN BROWSER"])
    api.emu.advance(5)
    for _ in range(2):
        response = api.post("stop", {"pid": pid, "pw": pw})
        assert (response.status_code, response.json()) == (200, {"stopped": pid})
    assert api.run_data("Export leads")["status"] == "Success"


def test_stop_is_strict_about_pid_and_pw(api):
    pid, pw = pid_pw(api.trigger("Export leads")["OPEN LINK IN BROWSER"])
    for body in ({"pid": int(pid), "pw": pw}, {"pid": "03", "pw": pw}, {"pid": pid, "pw": pw + "x"}):
        response = api.post("stop", body)
        assert (response.status_code, response.json()) == (404, {"status": "error", "message": "Run not found"})
    assert api.emu.runs()[0]["status"] == "Running"


def test_stop_frees_the_slot_for_the_next_tick(api):
    pid, pw = pid_pw(api.trigger("Export leads")["OPEN LINK IN BROWSER"])
    api.trigger("Scrape product prices")
    api.post("stop", {"pid": pid, "pw": pw})
    assert api.emu.runs()[1]["status"] == "Queued"  # not immediately
    api.emu.advance(300)
    assert api.emu.runs()[1]["status"] == "Running"


def test_pids_are_reused_only_after_the_run_ends(make_api):
    api = make_api(plan={"concurrency": 3})
    pids = [pid_pw(api.trigger(n)["OPEN LINK IN BROWSER"])[0] for n in ("Export leads", "Scrape product prices")]
    assert len(set(pids)) == 2
    assert all(VIEWER_RE.match(r["viewer_url"]) for r in api.emu.runs())


def test_stop_needs_no_key_but_counts_against_the_rate_limit(make_api):
    api = make_api(rate_limit_per_minute=2)
    pid, pw = pid_pw(api.trigger("Export leads")["OPEN LINK IN BROWSER"])
    assert api.post("stop", {"pid": pid, "pw": pw}).status_code == 200
    response = api.post("stop", {"pid": pid, "pw": pw})
    assert response.status_code == 429


def test_run_id_mode(make_api):
    api = make_api(run_id_mode=True)
    started = api.trigger("Export leads")
    assert set(started) == {"OPEN LINK IN BROWSER", "run_id"}
    queued = api.trigger("Export leads")
    assert set(queued) == {"status", "message", "run_id"} and queued["status"] == "queued"
    api.emu.advance(5)
    # by name: the latest (queued) run; by run_id: that exact run
    assert api.run_data("Export leads") == {"status": "Running", "data": {}}
    by_id = api.json("run-data", run_id=started["run_id"])
    assert by_id == {
        "status": "Success",
        "data": {"google-sheet-data": [["name", "email"], ["Ada", "ada@example.com"]]},
    }
    response = api.call("run-data", run_id="run_nope")
    assert (response.status_code, response.json()) == (404, {"status": "error", "message": "Run not found"})
    # a queued run has no viewer URL, but run_id can stop it; it then used no runtime
    response = api.post("stop", {"run_id": queued["run_id"]})
    assert (response.status_code, response.json()) == (200, {"stopped": queued["run_id"]})
    assert api.json("run-data", run_id=queued["run_id"]) == {"status": "Failure", "data": {}}
    assert api.json("remaining-runtime")["data"]["used"] == 0.08
    assert [r["run_id"] for r in api.emu.runs()] == [started["run_id"], queued["run_id"]]
    assert api.post("stop", {"run_id": "run_nope"}).status_code == 404


def test_run_id_is_ignored_without_run_id_mode(api):
    started = api.trigger("Export leads")
    assert "run_id" not in started
    response = api.call("run-data", run_id=api.emu.runs()[0]["run_id"])
    assert response.status_code == 400  # name is still required


@pytest.mark.parametrize(
    ("reading", "alone", "stop_alone"),
    [
        ("name_required", (404, "Task not found, please check the name and try again."), 400),
        ("ignored", (400, "Missing task name"), 400),
    ],
)
def test_run_ids_the_api_does_not_read(make_api, reading, alone, stop_alone):
    """``/trigger`` returns an id; beside a name ``/run-data`` ignores it (the newest run answers)."""
    api = make_api(run_ids=reading)
    first = api.trigger("Export leads")
    api.emu.advance(60)
    second = api.trigger("Export leads")
    assert first["run_id"] and second["run_id"]
    beside = api.json("run-data", name="Export leads", run_id=first["run_id"])
    assert beside == api.run_data("Export leads") and beside["status"] == "Running"  # the newest: the second run
    assert api.json("run-data", name="Export leads", run_id="run_nope")["status"] == "Running"
    response = api.call("run-data", run_id=first["run_id"])
    assert response.status_code == alone[0] and response.json()["message"].startswith(alone[1])
    assert api.post("stop", {"run_id": second["run_id"]}).status_code == stop_alone
    assert not any(r["stopped"] for r in api.emu.runs())


def test_run_id_mode_is_run_ids_by_id(make_api):
    assert make_api(run_id_mode=True).emu.scenario.run_ids == "by_id"
