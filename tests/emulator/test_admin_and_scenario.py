"""Admin routes, the in-process API, scenario loading and validation."""

from __future__ import annotations

import json

import httpx
import pytest
from emu_helpers import scenario

from airflow_provider_axiom.testing.emulator import AxiomEmulator, ScenarioError, load_scenario
from airflow_provider_axiom.testing.emulator._scenario import SCENARIO_DIR


def admin(api, route: str, body=None, method: str = "POST") -> httpx.Response:
    return api.http.request(method, f"{api.emu.url}/_emulator/{route}", json=body)


def test_health(api):
    body = admin(api, "health", method="GET").json()
    assert body["status"] == "ok" and body["now"] == "2025-04-10T15:14:51.000000Z" and body["speed"] == 0


def test_requests_and_runs_routes(api):
    api.trigger("Export leads", data=[["x"]])
    api.run_data("Export leads")
    log = admin(api, "requests", method="GET").json()
    assert [(r["endpoint"], r["status"], r["fault"]) for r in log] == [("trigger", 200, None), ("run-data", 200, None)]
    assert log[0]["time"] == "2025-04-10T15:14:51.000000Z" and isinstance(log[0]["real_time"], float)
    assert log[0]["body"] == {"key": "test-key", "name": "Export leads", "data": [["x"]]}
    only = admin(api, "requests?endpoint=run-data", method="GET").json()
    assert [r["endpoint"] for r in only] == ["run-data"]
    runs = admin(api, "runs", method="GET").json()
    assert runs == api.emu.runs()
    assert set(runs[0]) >= {
        "run_id", "name", "input_data", "status", "queued_at", "created_at", "updated_at", "finished_at",
        "pid", "pw", "viewer_url", "stopped", "description",
    }  # fmt: skip
    assert admin(api, "runs?name=Nope", method="GET").json() == []


def test_clock_route(api):
    body = admin(api, "clock", {"advance": 90}).json()
    assert body["now"] == "2025-04-10T15:16:21.000000Z"
    assert admin(api, "clock", {"speed": 2}).json()["speed"] == 2
    assert admin(api, "clock", {"rewind": 1}).status_code == 400
    assert admin(api, "clock", {"advance": -1}).status_code == 400


def test_faults_route(api):
    response = admin(api, "faults", {"endpoint": "list-automations", "sequence": [{"status": 500}, "ok"]})
    assert response.status_code == 200
    assert api.call("list-automations").status_code == 500
    admin(api, "faults", {"endpoint": "*", "probability": 1, "fault": "html"})
    assert api.call("run-reports").status_code == 502
    admin(api, "faults", {"endpoint": "*"})
    assert api.call("run-reports").status_code == 200
    bad = admin(api, "faults", {"endpoint": "*", "sequence": ["explode"]})
    assert bad.status_code == 400 and "explode" in bad.json()["message"]


def test_scenario_reset_and_automations_routes(api):
    api.trigger("Export leads")
    assert admin(api, "reset").json() == {"status": "ok"}
    assert api.emu.runs() == [] and api.emu.requests() == []
    loaded = admin(api, "scenario", scenario(api_key="other", automations=[{"name": "Only"}]))
    assert loaded.status_code == 200
    assert api.json("list-automations", key="other")["data"]["names"] == ["Only"]
    bad = admin(api, "scenario", {"automations": [{"duration": 1}]})
    assert bad.status_code == 400 and "automations[0].name" in bad.json()["message"]
    assert admin(api, "automations", {"name": "Added", "duration": 1}).status_code == 200
    assert api.json("list-automations", key="other")["data"]["names"] == ["Only", "Added"]
    assert admin(api, "automations", {"name": "Bad", "outcome": "Maybe"}).status_code == 400


def test_admin_errors(api):
    assert admin(api, "nope", method="GET").status_code == 404
    assert admin(api, "requests", {}).status_code == 405
    assert admin(api, "runs", {}).status_code == 400  # POST /runs starts a run: it needs a name
    assert admin(api, "runs", {"name": "Nope"}).status_code == 400


def test_a_run_started_from_outside_the_client(api):
    name = next(iter(api.emu._core.automations))
    calls_before = api.emu.call_counts()
    run = admin(api, "runs", {"name": name, "outcome": "Failure", "duration": 2}).json()
    assert run["name"] == name and run["status"] == "Running" and run["input_data"] is None
    assert api.emu.call_counts() == calls_before  # no key, not counted, not logged
    assert api.emu.requests("trigger") == []
    api.emu.advance(2)
    assert api.emu.runs(name)[-1]["status"] == "Failure"
    assert admin(api, "runs", {"name": name, "colour": "red"}).status_code == 400
    started = api.emu.start_run(name, output={"x": [["1"]]})
    api.emu.advance(60)
    assert api.emu.runs(name)[-1]["run_id"] == started["run_id"]
    assert api.emu.runs(name)[-1]["output"] == {"x": [["1"]]}
    assert api.http.post(f"{api.emu.url}/_emulator/reset", content=b"{").status_code == 400


def test_in_process_api_before_start_and_after_stop():
    emu = AxiomEmulator(scenario())
    emu.add_automation("Later", duration=1)
    assert "Later" in [a for a in emu._core.automations]
    with emu:
        assert emu.port != 0
        assert emu.base_url == f"http://127.0.0.1:{emu.port}/api/v3"
        assert httpx.post(f"{emu.base_url}/trigger", json={"key": "test-key", "name": "Later"}).status_code == 200
    assert emu.runs("Later")[0]["status"] == "Running"
    emu.advance(1)
    assert emu.runs("Later")[0]["status"] == "Success"
    emu.stop()  # idempotent


def test_connection_helpers():
    with AxiomEmulator({"api_key": "k/with:odd@chars"}) as emu:
        assert json.loads(emu.connection_json()) == {
            "conn_type": "axiom",
            "password": "k/with:odd@chars",
            "host": emu.base_url,
        }
        from airflow.models.connection import Connection

        conn = Connection(conn_id="axiom_default", uri=emu.connection_uri())
        assert (conn.conn_type, conn.host, conn.password) == ("axiom", emu.base_url, "k/with:odd@chars")
        assert conn.port is None and not conn.schema


def test_load_scenario_and_reset_in_process(api):
    api.trigger("Export leads")
    api.emu.load_scenario({"speed": 0, "automations": [{"name": "New"}]})
    assert api.emu.runs() == []
    assert api.json("list-automations")["data"]["names"] == ["New"]
    api.emu.reset()
    assert api.emu.scenario.automations[0].name == "New"


def test_bundled_demo_scenario_and_files(tmp_path):
    demo = load_scenario("demo")
    assert demo.api_key == "demo-key" and demo.source == "demo.yaml"
    assert (SCENARIO_DIR / "demo.yaml").is_file()
    assert load_scenario(SCENARIO_DIR / "demo.yaml").automations == demo.automations
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"api_key": "json-key"}))
    assert load_scenario(str(path)).api_key == "json-key"
    assert load_scenario(None).api_key == "test-key"
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(str(tmp_path / "missing.yaml"))


def test_default_scenario():
    sc = load_scenario(None)
    names = {a.name: a for a in sc.automations}
    assert names["Scrape product prices"].duration == 3 and names["Scrape product prices"].echo_input
    assert names["Export leads"].output == {"google-sheet-data": [["name", "email"], ["Ada", "ada@example.com"]]}
    assert names["Broken checkout flow"].outcome == "Failure"
    assert "selector" in names["Broken checkout flow"].failure_message
    assert (sc.plan.concurrency, sc.plan.allowance_minutes, sc.rate_limit_per_minute, sc.speed) == (1, 15000, 100, 1)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"api_kye": "x"}, "api_kye"),
        ({"api_key": ""}, "api_key"),
        ({"speed": -1}, "speed"),
        ({"speed": "fast"}, "speed"),
        ({"plan": {"concurrency": 0}}, "plan.concurrency"),
        ({"plan": {"concurency": 2}}, "plan.concurency"),
        ({"plan": {"queue_retry_seconds": 0}}, "plan.queue_retry_seconds"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute"),
        ({"run_id_mode": "yes"}, "run_id_mode"),
        ({"viewer_host_style": "new"}, "viewer_host_style"),
        ({"status_vocabulary": "binary"}, "status_vocabulary"),
        ({"missing_key_status": 400}, "missing_key_status"),
        ({"start_time": "yesterday"}, "start_time"),
        ({"automations": {"name": "x"}}, "automations"),
        ({"automations": [{"name": "x", "outcome": "success"}]}, "automations[0].outcome"),
        ({"automations": [{"name": "x", "output": [["a"]]}]}, "automations[0].output"),
        ({"automations": [{"name": "x", "output": {"t": [["a", None]]}}]}, "automations[0].output.t[0]"),
        ({"automations": [{"name": "x"}, {"name": "x"}]}, "automations[1].name"),
        ({"automations": [{"name": "x", "durration": 1}]}, "automations[0].durration"),
        ({"history": [{"name": "ghost", "status": "Success", "minutes_ago": 1}]}, "history[0].name"),
        (
            {"automations": [{"name": "x"}], "history": [{"name": "x", "status": "Done", "minutes_ago": 1}]},
            "history[0].status",
        ),
        ({"automations": [{"name": "x"}], "history": [{"name": "x", "status": "Success"}]}, "history[0].minutes_ago"),
        ({"faults": {"trigger": {"sequence": ["nope"]}}}, "faults.trigger.sequence[0]"),
        ({"faults": {"trigger": {"probability": 2, "fault": "reset"}}}, "faults.trigger.probability"),
    ],
)
def test_scenario_validation_names_the_field(data, field):
    with pytest.raises(ScenarioError) as exc:
        load_scenario(data)
    assert f"'{field}" in str(exc.value) or f"{field}:" in str(exc.value), str(exc.value)
