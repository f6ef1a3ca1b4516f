"""The strict rate-limit reading (refused calls count), the emulated-clock window, and per-key call counts."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator, ScenarioError, load_scenario
from airflow_provider_axiom.testing.emulator._state import key_fingerprint, max_in_window


def _fake_real_clock(api, start: float = 1000.0) -> list[float]:
    fake = [start]
    api.emu._core.real_clock = lambda: fake[0]
    return fake


def test_refused_calls_do_not_count_by_default(make_api):
    api = make_api(rate_limit_per_minute=2)
    fake = _fake_real_clock(api)
    assert [api.call("list-automations").status_code for _ in range(2)] == [200, 200]
    fake[0] = 1030.0
    assert api.call("list-automations").status_code == 429
    fake[0] = 1060.0  # both accepted calls leave the window; the refused one never entered it
    assert [api.call("list-automations").status_code for _ in range(3)] == [200, 200, 429]


def test_strict_reading_counts_refused_calls(make_api):
    api = make_api(rate_limit_per_minute=2, rate_limit_counts_refused=True)
    fake = _fake_real_clock(api)
    assert [api.call("list-automations").status_code for _ in range(2)] == [200, 200]
    fake[0] = 1030.0
    assert api.call("list-automations").status_code == 429  # stamped at 1030
    fake[0] = 1060.0  # the two accepted calls leave; the refused one at 1030 is still inside
    assert api.call("list-automations").status_code == 200
    assert api.call("list-automations").status_code == 429
    fake[0] = 1089.9  # 1030 and 1060 (refused) still inside with 1060 (accepted)
    assert api.call("list-automations").status_code == 429
    fake[0] = 1150.0  # a client that keeps knocking keeps itself out; one that waits a minute gets in
    assert api.call("list-automations").status_code == 200


def test_strict_reading_keeps_a_hammering_client_out():
    with AxiomEmulator({"speed": 0, "rate_limit_per_minute": 3, "rate_limit_counts_refused": True}) as emu:
        fake = [0.0]
        emu._core.real_clock = lambda: fake[0]
        statuses = []
        with httpx.Client(base_url=emu.base_url) as http:
            for second in range(0, 300, 10):  # one call every 10 s: 6 per minute against 3
                fake[0] = float(second)
                statuses.append(http.post("/list-automations", json={"key": emu.api_key}).status_code)
        assert statuses[:3] == [200, 200, 200]
        assert set(statuses[3:]) == {429}  # with refused calls counted, the window never drains
        assert emu.rate_limited_calls() == len(statuses) - 3


def test_window_on_the_emulated_clock(make_api):
    api = make_api(rate_limit_per_minute=2, rate_limit_clock="emulated")
    assert [api.call("list-automations").status_code for _ in range(3)] == [200, 200, 429]
    api.emu.advance(59.9)
    assert api.call("list-automations").status_code == 429
    api.emu.advance(0.1)  # real time did not move; emulated time did
    assert api.call("list-automations").status_code == 200


def test_set_rate_limit_lifts_and_restores(make_api):
    api = make_api(rate_limit_per_minute=1)
    assert [api.call("list-automations").status_code for _ in range(2)] == [200, 429]
    api.emu.set_rate_limit(None)
    assert all(api.call("list-automations").status_code == 200 for _ in range(5))
    api.emu.set_rate_limit(2, counts_refused=True)  # the window starts empty
    assert [api.call("list-automations").status_code for _ in range(3)] == [200, 200, 429]
    assert api.emu.scenario.rate_limit_counts_refused is True
    with pytest.raises(ValueError, match="per_minute"):
        api.emu.set_rate_limit(0)


def test_switches_are_validated():
    assert load_scenario({"rate_limit_counts_refused": True}).rate_limit_counts_refused is True
    assert load_scenario(None).rate_limit_counts_refused is False
    assert load_scenario(None).rate_limit_clock == "real"
    with pytest.raises(ScenarioError, match="rate_limit_counts_refused"):
        load_scenario({"rate_limit_counts_refused": "yes"})
    with pytest.raises(ScenarioError, match="rate_limit_clock"):
        load_scenario({"rate_limit_clock": "wall"})


def test_call_counts_per_key_and_endpoint(make_api):
    api = make_api(rate_limit_per_minute=4)
    api.trigger("Export leads")
    pid, pw = api.emu.runs()[0]["pid"], api.emu.runs()[0]["pw"]
    api.call("run-reports")
    api.call("run-data", name="Export leads")
    api.call("run-reports")
    assert api.call("run-reports").status_code == 429  # counted as a call, and as a 429
    assert api.call("list-automations", key="other-key").status_code == 401
    assert api.post("stop", {"pid": pid, "pw": pw}).status_code == 429  # /stop counts under the account key
    assert api.emu.call_counts() == {"trigger": 1, "run-reports": 3, "run-data": 1, "stop": 1}
    assert api.emu.call_counts("other-key") == {"list-automations": 1}
    assert api.emu.call_counts("never-used") == {}
    assert api.emu.rate_limited_calls() == 2
    assert api.emu.rate_limited_calls("other-key") == 0
    assert api.emu.max_calls_in_window() == 6  # frozen clock: all in one instant


def test_max_calls_in_window_uses_emulated_time(make_api):
    api = make_api(rate_limit_per_minute=None)
    for _ in range(3):
        api.call("list-automations")
    api.emu.advance(30)
    mid = api.emu.now()
    for _ in range(4):
        api.call("run-reports")
    api.emu.advance(30)  # the first three are now exactly 60 s back: outside a window with these
    for _ in range(2):
        api.call("run-reports")
    assert api.emu.max_calls_in_window() == 7  # 3 + 4 within [t, t + 60)
    assert api.emu.max_calls_in_window(window=1) == 4
    assert api.emu.call_counts(since=mid) == {"run-reports": 6}
    assert api.emu.max_calls_in_window(since=mid) == 6
    api.emu.reset()
    assert api.emu.call_counts() == {}


def test_max_in_window_helper():
    assert max_in_window([]) == 0
    assert max_in_window([5.0, 0.0, 59.9, 60.0, 61.0]) == 4  # 0, 5, 59.9 | 5, 59.9, 60, 61
    assert max_in_window([0.0, 60.0]) == 1


def test_calls_and_rate_limit_admin_routes(make_api):
    api = make_api(rate_limit_per_minute=1)
    api.call("list-automations")
    api.call("run-reports")
    base = f"{api.emu.url}/_emulator"
    stats = api.http.get(f"{base}/calls").json()
    assert stats == {
        "key_fingerprint": key_fingerprint("test-key"),  # never the key itself
        "counts": {"list-automations": 1, "run-reports": 1},
        "total": 2,
        "rate_limited": 1,
        "window": 60.0,
        "max_in_window": 2,
    }
    later = api.emu.advance(5).isoformat()
    assert api.http.get(f"{base}/calls", params={"since": later}).json()["total"] == 0
    assert api.http.get(f"{base}/calls", params={"key": "x"}).json()["counts"] == {}
    answer = api.http.post(f"{base}/rate-limit", json={"per_minute": None, "counts_refused": True})
    assert answer.json() == {"status": "ok", "per_minute": None, "counts_refused": True}
    assert api.call("run-reports").status_code == 200
    assert api.http.post(f"{base}/rate-limit", json={"per_minute": 0}).status_code == 400
    assert api.http.post(f"{base}/rate-limit", json={"speed": 1}).status_code == 400
    assert api.http.get(f"{base}/rate-limit").status_code == 405


def test_concurrency_above_99_for_load_tests(make_api):
    api = make_api(
        plan={"concurrency": 150},
        automations=[{"name": "Wide", "duration": 60, "allow_cloud_concurrency": True}],
        rate_limit_per_minute=None,
    )
    for _ in range(120):
        api.trigger("Wide")
    runs = api.emu.runs()
    assert [r["status"] for r in runs] == ["Running"] * 120
    assert len({r["pid"] for r in runs}) == 120
    assert {len(r["pid"]) for r in runs} == {2, 3}
