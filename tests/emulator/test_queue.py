"""Queue and concurrency: 5-minute retry ticks from the queue time, trigger order, caps and reports."""

from __future__ import annotations

from emu_helpers import VIEWER_RE


def statuses(api):
    return [(r["name"], r["status"]) for r in api.emu.runs()]


def test_second_run_waits_for_the_first_tick_after_the_slot_frees(api):
    assert "OPEN LINK IN BROWSER" in api.trigger("Export leads")
    queued = api.trigger("Export leads")
    assert queued["status"] == "queued"
    assert api.run_data("Export leads") == {"status": "Running", "data": {}}  # the queued run, as Running
    assert len(api.reports()) == 1  # queued runs are not reported until they start

    api.emu.advance(5)  # first run done; the slot is free but the queue only retries on its tick
    assert statuses(api) == [("Export leads", "Success"), ("Export leads", "Queued")]
    assert api.run_data("Export leads")["status"] == "Running"
    api.emu.advance(294)
    assert statuses(api)[1] == ("Export leads", "Queued")
    assert len(api.reports()) == 1

    api.emu.advance(1)  # 300 s after it was queued
    run = api.emu.runs()[1]
    assert run["status"] == "Running" and run["was_queued"]
    assert run["queued_at"] == "2025-04-10T15:14:51.000000Z"
    assert run["created_at"] == "2025-04-10T15:19:51.000000Z"
    assert VIEWER_RE.match(run["viewer_url"])  # pid/pw assigned at start
    reports = api.reports()
    assert reports[0]["created_at"] == "2025-04-10T15:19:51.000000Z" and reports[0]["status"] == "Running"
    api.emu.advance(5)
    assert api.run_data("Export leads")["status"] == "Success"
    assert [r["status"] for r in api.reports()] == ["Success", "Success"]


def test_queue_keeps_retrying_every_five_minutes(make_api):
    api = make_api(automations=[{"name": "Long", "duration": 700}, {"name": "Short", "duration": 1}])
    api.trigger("Long")
    assert api.trigger("Short")["status"] == "queued"
    api.emu.advance(600)  # ticks at 300 and 600: Long still running
    assert statuses(api)[1] == ("Short", "Queued")
    api.emu.advance(299)  # Long ended at 700; next tick at 900
    assert statuses(api) == [("Long", "Success"), ("Short", "Queued")]
    api.emu.advance(1)
    assert api.emu.runs()[1]["created_at"] == "2025-04-10T15:29:51.000000Z"


def test_one_big_advance_interleaves_events_in_time_order(make_api):
    api = make_api(automations=[{"name": "A", "duration": 100}, {"name": "B", "duration": 100}])
    api.trigger("A")
    api.trigger("B")
    api.trigger("A")
    api.emu.advance(10_000)
    runs = api.emu.runs()
    assert [(r["name"], r["status"]) for r in runs] == [("A", "Success"), ("B", "Success"), ("A", "Success")]
    assert [r["created_at"][11:19] for r in runs] == ["15:14:51", "15:19:51", "15:24:51"]
    assert [r["finished_at"][11:19] for r in runs] == ["15:16:31", "15:21:31", "15:26:31"]


def test_old_docs_example_four_queued_with_concurrency_two(make_api):
    """OLD-queue: 4 requests queued at 1:00 with 2 slots -> 2 start at 1:05, the other 2 at 1:10."""
    api = make_api(
        plan={"concurrency": 2},
        automations=[
            {"name": "Busy", "duration": 200, "allow_cloud_concurrency": True},
            {"name": "Job", "duration": 250, "allow_cloud_concurrency": True},
        ],
    )
    api.trigger("Busy")
    api.trigger("Busy")
    for _ in range(4):
        assert api.trigger("Job")["status"] == "queued"
    api.emu.advance(3600)
    starts = [r["created_at"][11:19] for r in api.emu.runs("Job")]
    assert starts == ["15:19:51", "15:19:51", "15:24:51", "15:24:51"]


def test_same_automation_is_queued_even_with_free_slots(make_api):
    api = make_api(plan={"concurrency": 3})
    api.trigger("Export leads")
    assert api.trigger("Export leads")["status"] == "queued"
    assert "OPEN LINK IN BROWSER" in api.trigger("Scrape product prices")  # another automation starts


def test_allow_cloud_concurrency(make_api):
    api = make_api(plan={"concurrency": 2}, automations=[{"name": "Par", "allow_cloud_concurrency": True}])
    first = api.trigger("Par")["OPEN LINK IN BROWSER"]
    second = api.trigger("Par")["OPEN LINK IN BROWSER"]
    pids = [m["pid"] for m in map(VIEWER_RE.match, (first, second)) if m]
    assert len(set(pids)) == 2  # pid unique among unfinished runs
    assert api.trigger("Par")["status"] == "queued"  # account limit still applies


def test_trigger_order_is_kept(make_api):
    """A later queued run does not overtake an earlier one that could use the slot."""
    api = make_api(
        automations=[{"name": "A", "duration": 350}, {"name": "B", "duration": 10}, {"name": "C", "duration": 10}]
    )
    api.trigger("A")
    api.trigger("B")  # ticks at 300, 600, ...
    api.emu.advance(100)
    api.trigger("C")  # ticks at 400, 700, ...
    api.emu.advance(300)  # t=400: A ended at 350, C's tick, but B is first in line
    assert statuses(api) == [("A", "Success"), ("B", "Queued"), ("C", "Queued")]
    api.emu.advance(200)  # t=600: B starts
    assert statuses(api)[1:] == [("B", "Running"), ("C", "Queued")]
    api.emu.advance(100)  # t=700: B ended at 610, C starts on its tick
    assert statuses(api)[1:] == [("B", "Success"), ("C", "Running")]


def test_new_trigger_waits_behind_the_queue(api):
    api.trigger("Export leads")
    api.trigger("Scrape product prices")  # queued, tick at 300
    api.emu.advance(10)  # slot free, but a run is waiting for its tick
    assert api.trigger("Broken checkout flow")["status"] == "queued"


def test_queue_limit_per_automation(make_api):
    api = make_api(plan={"queue_limit_per_automation": 1})
    api.trigger("Export leads")
    api.trigger("Export leads")
    response = api.call("trigger", name="Export leads")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "message": "queue full"}
    assert len(api.emu.runs()) == 2
    assert api.trigger("Scrape product prices")["status"] == "queued"  # the cap is per automation


def test_report_queued_runs_switch(make_api):
    api = make_api(report_queued_runs=True)
    api.trigger("Export leads")
    api.emu.advance(1)
    api.trigger("Export leads")
    reports = api.reports()
    assert [(r["status"], r["created_at"]) for r in reports] == [
        ("Running", "2025-04-10T15:14:52.000000Z"),
        ("Running", "2025-04-10T15:14:51.000000Z"),
    ]
    assert reports[0]["description"].startswith("Queued")
    api.emu.advance(300)  # started at 15:19:52; the report keeps its trigger-time created_at
    assert api.reports()[0]["created_at"] == "2025-04-10T15:14:52.000000Z"
    assert api.reports()[0]["description"].startswith("Execution started")


def test_queued_runs_do_not_consume_runtime(api):
    api.trigger("Export leads")
    api.trigger("Scrape product prices")
    api.emu.advance(200)
    assert api.json("remaining-runtime")["data"]["used"] == 0.08  # only the 5 s run


def test_registration_delay_hides_a_new_run_for_a_while():
    import httpx

    from airflow_provider_axiom.testing.emulator import AxiomEmulator

    scenario = {
        "registration_delay": 5,
        "automations": [{"name": "A", "duration": 30}],
        "history": [{"name": "A", "status": "Success", "minutes_ago": 10, "output": {"s": [["old"]]}}],
    }
    with AxiomEmulator(scenario) as emu, httpx.Client(base_url=emu.base_url + "/") as client:
        client.post("trigger", json={"key": emu.api_key, "name": "A"})
        before = client.post("run-data", json={"key": emu.api_key, "name": "A"}).json()
        reports = client.post("run-reports", json={"key": emu.api_key}).json()["data"]["reports"]
        assert before == {"status": "Success", "data": {"s": [["old"]]}}
        assert [r["status"] for r in reports] == ["Success"]
        emu.advance(5)
        assert client.post("run-data", json={"key": emu.api_key, "name": "A"}).json()["status"] == "Running"
        assert len(client.post("run-reports", json={"key": emu.api_key}).json()["data"]["reports"]) == 2
