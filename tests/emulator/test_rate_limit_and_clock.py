"""Rolling real-time rate limit per key; the emulated clock (speed, advance, Date)."""

from __future__ import annotations

import time
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from tests.polling import wait_for

RATE_LIMITED = {"status": "error", "message": "Rate limit exceeded. Try again in a few seconds."}


def test_call_over_the_limit_is_429(make_api):
    api = make_api(rate_limit_per_minute=5)
    for endpoint in ("list-automations", "remaining-runtime", "run-reports", "list-automations"):
        assert api.call(endpoint).status_code == 200
    assert api.call("trigger", name="Nope").status_code == 404  # counted: it reached the API
    response = api.call("list-automations")
    assert (response.status_code, response.json()) == (429, RATE_LIMITED)
    assert "Retry-After" not in response.headers  # none documented
    assert api.call("trigger", name="Export leads").status_code == 429  # every endpoint
    assert api.emu.runs() == []
    assert [r["status"] for r in api.emu.requests()][-2:] == [429, 429]


def test_window_is_rolling_in_real_time_and_rejections_do_not_count(make_api):
    api = make_api(rate_limit_per_minute=3)
    fake = [1000.0]
    api.emu._core.real_clock = lambda: fake[0]
    for offset in (0.0, 20.0, 40.0):
        fake[0] = 1000.0 + offset
        assert api.call("list-automations").status_code == 200
    fake[0] = 1059.9
    assert api.call("list-automations").status_code == 429  # not counted
    assert api.call("list-automations", key="wrong").status_code == 401  # not counted either
    fake[0] = 1060.0  # the first call leaves the window
    assert api.call("list-automations").status_code == 200
    assert api.call("list-automations").status_code == 429
    fake[0] = 1080.0
    assert api.call("list-automations").status_code == 200


def test_emulated_time_does_not_move_the_rate_window(make_api):
    api = make_api(rate_limit_per_minute=2)
    api.call("list-automations")
    api.call("list-automations")
    api.emu.advance(3600)
    assert api.call("list-automations").status_code == 429


def test_rate_limit_can_be_disabled(make_api):
    api = make_api(rate_limit_per_minute=None)
    assert all(api.call("list-automations").status_code == 200 for _ in range(150))


def test_speed_makes_long_runs_pass_quickly(make_api):
    api = make_api(speed=20_000, automations=[{"name": "Ten minutes", "duration": 600}])
    api.trigger("Ten minutes")
    api.trigger("Ten minutes")  # queued for 5 emulated minutes after the first ends

    def both_done() -> list[dict[str, Any]] | None:  # 2400 emulated seconds: 0.12 s of real time
        runs = api.emu.runs()
        return runs if [r["status"] for r in runs] == ["Success", "Success"] else None

    runs = wait_for("both ten-minute runs to succeed", both_done, timeout=10, interval=0.01)
    created = [r["created_at"] for r in runs]
    assert created[1] > created[0]
    report = api.reports()[1]
    assert report["updated_at"][11:16] != report["created_at"][11:16]  # the client sees a 10-minute run


def test_set_speed_and_advance(api):
    began = time.monotonic()
    start = api.emu.now()
    assert api.call("list-automations").status_code == 200  # a request's real time passes...
    assert api.emu.now() == start and time.monotonic() > began  # ... and speed 0 (these tests') is frozen
    api.emu.set_speed(1000)
    began = time.monotonic()  # no earlier than the speed changed
    start = api.emu.now()
    wait_for("50 emulated seconds", lambda: api.emu.now() >= start + timedelta(seconds=50), timeout=10)
    elapsed = (api.emu.now() - start).total_seconds()
    real = time.monotonic() - began
    assert 50 <= elapsed <= real * 1000 + 0.01  # x1000 of the real time that passed, however long that was
    api.emu.set_speed(0)
    frozen = api.emu.now()
    assert (api.emu.advance(60) - frozen).total_seconds() == 60
    date = parsedate_to_datetime(api.call("list-automations").headers["Date"])
    assert date == api.emu.now().replace(microsecond=0)


def test_real_speed_one_by_default(make_api):
    api = make_api(speed=1)
    began = time.monotonic()
    a = api.emu.now()
    inner_start = time.monotonic()
    wait_for("0.05 emulated seconds", lambda: api.emu.now() >= a + timedelta(seconds=0.05), timeout=10, interval=0.01)
    inner_end = time.monotonic()
    b = api.emu.now()
    ended = time.monotonic()
    # the emulated time between the two readings is the real time between them: at least the real
    # time strictly inside them, at most the real time around them
    assert inner_end - inner_start - 0.001 <= (b - a).total_seconds() <= ended - began + 0.001
