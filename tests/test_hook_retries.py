"""Retries, backoff, the no-duplicate /trigger rule, rate limiting and secrets, with httpx.MockTransport.

Time is fake: every sleep the hook asks for is recorded and nothing waits.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

import httpx
import pytest

from airflow_provider_axiom._ratelimit import MARGIN, MAX_PAUSE, RateLimiter, limiter_for_key
from airflow_provider_axiom.exceptions import (
    AxiomAuthError,
    AxiomBadRequestError,
    AxiomNotFoundError,
    AxiomServerError,
    AxiomTriggerUncertainError,
)
from tests.hook_kit import API_KEY, body_of

VIEWER = "https://vnc.axiom.ai/vnc_lite.html?host=dev-c-0007-v4-proxy.axiom.ai&port=443&password=pw1&taskId=3"
DATE = "Wed, 25 Nov 2026 12:00:10 GMT"


def started(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"OPEN LINK IN BROWSER": VIEWER}, headers={"Date": DATE})


def report(name: str, status: str, created: str) -> dict:
    return {"task_name": name, "status": status, "description": "", "created_at": created, "updated_at": created}


def reports(*items):
    return httpx.Response(200, json={"status": "success", "data": {"reports": list(items)}})


def script(*steps):
    """A handler answering each request with the next step (a Response, an exception, or a callable)."""
    seen: list[httpx.Request] = []
    queue = list(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = queue.pop(0)
        if isinstance(step, Exception):
            raise step
        return step(request) if callable(step) else step

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


def paths(handler) -> list[str]:
    return [r.url.path.rsplit("/", 1)[-1] for r in handler.seen]


# ---------------------------------------------------------------- retries and backoff


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(429, json={"status": "error", "message": "Rate limit exceeded. Try again in a few seconds."}),
        httpx.Response(500, json={"status": "error", "message": "Internal server error"}),
        httpx.Response(503, text="<html>Service Unavailable</html>"),
        httpx.Response(408, json={}),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
    ids=["429", "500", "503-html", "408", "connect", "read-timeout"],
)
def test_retryable_failures_are_retried_with_backoff(mock_hook, fake_time, failure):
    handler = script(failure, failure, httpx.Response(200, json={"status": "success", "data": {"names": ["A"]}}))
    assert mock_hook(handler).list_automations() == ["A"]
    assert paths(handler) == ["list-automations"] * 3
    assert len(fake_time.sleeps) == 2
    assert all(0 <= s <= 30 for s in fake_time.sleeps)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 422])
def test_permanent_failures_are_not_retried(mock_hook, fake_time, status):
    handler = script(httpx.Response(status, json={"status": "error", "message": "nope"}))
    with pytest.raises(Exception) as exc:
        mock_hook(handler).get_remaining_runtime()
    assert exc.value.status_code == status and not exc.value.retryable
    assert len(handler.seen) == 1 and fake_time.sleeps == []


def test_attempts_are_bounded_and_the_last_error_is_raised(mock_hook, fake_time):
    failures = [httpx.Response(502, json={"status": "error", "message": "bad gateway"})] * 4
    handler = script(*failures)
    with pytest.raises(AxiomServerError) as exc:
        mock_hook(handler, max_retries=3).get_remaining_runtime()
    assert exc.value.status_code == 502 and "bad gateway" in str(exc.value)
    assert len(handler.seen) == 4 and len(fake_time.sleeps) == 3


def test_total_backoff_is_bounded(mock_hook, fake_time):
    handler = script(*[httpx.Response(500, json={})] * 50)
    with pytest.raises(AxiomServerError):
        mock_hook(handler, max_retries=40, retry_budget=10, retry_max_wait=4).get_remaining_runtime()
    # stops once the waits reach the budget: the sum may pass it by at most one wait
    assert sum(fake_time.sleeps[:-1]) < 10 <= sum(fake_time.sleeps) + 4
    assert len(handler.seen) < 41


def test_backoff_is_exponential_with_full_jitter(mock_hook, fake_time):
    handler = script(*[httpx.Response(500, json={})] * 7)
    with pytest.raises(AxiomServerError):
        mock_hook(handler, max_retries=6, retry_max_wait=1000, retry_budget=10_000).get_remaining_runtime()
    # full jitter: each wait is uniform in [0, 2**attempt]
    for attempt, wait in enumerate(fake_time.sleeps, start=1):
        assert 0 <= wait <= 2**attempt


def test_retry_after_is_honoured(mock_hook, fake_time):
    limited = httpx.Response(
        429, json={"status": "error", "message": "Rate limit exceeded."}, headers={"Retry-After": "17"}
    )
    handler = script(limited, httpx.Response(200, json={"status": "success", "data": {"names": []}}))
    mock_hook(handler).list_automations()
    assert fake_time.sleeps == [pytest.approx(17, abs=0.01)] or fake_time.sleeps[0] >= 17


def test_retry_after_as_an_http_date_paces_the_key_too(mock_hook, fake_time):
    """One reading of ``Retry-After`` (seconds or an HTTP date) for the backoff and the key's limiter."""
    limited = httpx.Response(
        429,
        json={"status": "error", "message": "Rate limit exceeded."},
        headers={"Retry-After": "Wed, 25 Nov 2026 12:00:27 GMT", "Date": DATE},
    )
    handler = script(limited, httpx.Response(200, json={"status": "success", "data": {"names": []}}))
    hook = mock_hook(handler)
    limiter = hook.transport().limiter
    pauses: list[float | None] = []
    penalize = limiter.penalize

    def spy(retry_after: float | None = None) -> None:
        pauses.append(retry_after)
        penalize(retry_after)

    limiter.penalize = spy  # type: ignore[method-assign]
    hook.list_automations()
    assert pauses == [pytest.approx(17)]  # the key's limiter read the date as 17 s
    assert fake_time.sleeps and max(fake_time.sleeps) >= 17 - 0.01  # and the call waited that long


async def test_async_path_retries_the_same_way(mock_hook, fake_time):
    handler = script(
        httpx.Response(500, json={}),
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json={"status": "success", "data": {"used": 1, "allowance": 10, "remaining": 9}}),
    )
    hook = mock_hook(handler)
    runtime = await hook.aget_remaining_runtime()
    await hook.aclose()
    assert runtime.remaining == 9 and len(fake_time.sleeps) == 2


# ---------------------------------------------------------------- /trigger never runs twice


def test_lost_trigger_answer_with_a_started_run_is_not_resent(mock_hook):
    """The attempt reached the server and started a run; the answer was lost."""
    created = "2026-11-25T12:00:00.000000Z"
    handler = script(
        httpx.ReadTimeout("answer lost"),
        reports(report("Scrape", "Running", created)),
    )
    result = mock_hook(handler).trigger_automation("Scrape", [["x"]])
    assert paths(handler) == ["trigger", "run-reports"]  # exactly one /trigger
    assert result.recovered and result.status == "started" and result.viewer_url is None


def test_lost_trigger_answer_without_a_run_is_resent_once_checked(mock_hook):
    old = "2026-11-25T11:00:00.000000Z"  # the previous run of the same automation: not ours
    handler = script(
        httpx.Response(502, text="<html>Bad gateway</html>"),
        *[reports(report("Scrape", "Success", old))] * 6,
        started,
    )
    result = mock_hook(handler).trigger_automation("Scrape")
    # run reports are watched over the whole check window (10 s, a look every 2 s) before re-sending
    assert paths(handler) == ["trigger"] + ["run-reports"] * 6 + ["trigger"]
    assert result.viewer_url == VIEWER and not result.recovered


@pytest.mark.parametrize(
    "safe_failure",
    [httpx.ConnectError("refused"), httpx.Response(429, json={"status": "error", "message": "Rate limit exceeded."})],
    ids=["connect-error", "429"],
)
def test_failures_that_never_reached_the_server_are_resent_without_checking(mock_hook, safe_failure):
    handler = script(safe_failure, started)
    mock_hook(handler).trigger_automation("Scrape")
    assert paths(handler) == ["trigger", "trigger"]


def test_unverifiable_lost_trigger_fails_without_resending(mock_hook):
    # run reports fail for the whole window and the retry budget after it (a look every 2 s)
    handler = script(httpx.ReadTimeout("lost"), *[httpx.Response(503, json={})] * 80)
    with pytest.raises(AxiomTriggerUncertainError) as exc:
        mock_hook(handler, max_retries=2).trigger_automation("Scrape")
    assert paths(handler).count("trigger") == 1
    assert not exc.value.retryable  # a task retry could start a second run


def test_a_check_that_could_read_reports_only_early_does_not_resend(mock_hook):
    """A run the API lists late shows only to a look after the window: failing looks are retried."""
    handler = script(
        httpx.Response(502, text="<html>Bad gateway</html>"),
        reports(),  # read at once: nothing yet
        *[httpx.Response(429, json={"status": "error", "message": "Rate limit exceeded."})] * 5,
        reports(report("Scrape", "Running", "2026-11-25T12:00:09.000000Z")),  # read after the window
    )
    result = mock_hook(handler).trigger_automation("Scrape")
    assert result.recovered and paths(handler).count("trigger") == 1


def test_last_attempt_lost_is_checked_before_giving_up(mock_hook):
    created = "2026-11-25T12:00:05.000000Z"  # after the second send (the 429 backoff took a few seconds)
    handler = script(
        httpx.Response(429, json={"status": "error", "message": "Rate limit exceeded."}),
        httpx.ReadTimeout("lost"),
        reports(report("Scrape", "Running", created)),
    )
    result = mock_hook(handler, max_retries=1).trigger_automation("Scrape")
    assert result.recovered and paths(handler) == ["trigger", "trigger", "run-reports"]


async def test_async_trigger_follows_the_same_rule(mock_hook):
    created = "2026-11-25T12:00:00.000000Z"
    handler = script(
        httpx.RemoteProtocolError("dropped"),
        reports(report("Scrape", "Running", created)),
    )
    hook = mock_hook(handler)
    result = await hook.atrigger_automation("Scrape")
    assert result.recovered and paths(handler) == ["trigger", "run-reports"]


def test_trigger_result_times_come_from_the_server(mock_hook):
    result = mock_hook(script(started)).trigger_automation("Scrape")
    assert result.triggered_at.isoformat() == "2026-11-25T12:00:10+00:00"
    assert result.sent_at <= result.triggered_at


# ---------------------------------------------------------------- validation and suggestions


def test_bad_input_sends_nothing(mock_hook):
    handler = script()
    hook = mock_hook(handler)
    with pytest.raises(AxiomBadRequestError, match="row 1, column 0 is a dict"):
        hook.trigger_automation("Scrape", [["a"], [{"b": 1}]])
    with pytest.raises(AxiomBadRequestError, match="automation_name"):
        hook.trigger_automation("  ")
    assert handler.seen == []


def test_task_not_found_names_the_closest_automations(mock_hook):
    handler = script(
        httpx.Response(
            404, json={"status": "error", "message": "Task not found, please check the name and try again."}
        ),
        httpx.Response(200, json={"status": "success", "data": {"names": ["Scrape product prices", "Export leads"]}}),
    )
    with pytest.raises(AxiomNotFoundError) as exc:
        mock_hook(handler).trigger_automation("scrape product  prices")
    assert exc.value.suggestions == ["Scrape product prices"]
    assert "Did you mean: 'Scrape product prices'?" in str(exc.value)
    assert paths(handler) == ["trigger", "list-automations"]


# ---------------------------------------------------------------- secrets


def test_the_key_is_in_the_body_only_and_never_in_errors_or_logs(mock_hook, caplog):
    caplog.set_level(logging.DEBUG)
    echo = httpx.Response(401, json={"status": "error", "message": f"Invalid key {API_KEY}"})
    handler = script(httpx.Response(500, json={"status": "error", "message": f"boom for {API_KEY}"}), echo)
    hook = mock_hook(handler)
    with pytest.raises(AxiomAuthError) as exc:
        hook.list_automations()
    request = handler.seen[0]
    assert body_of(request)["key"] == API_KEY
    assert API_KEY not in str(request.url) and API_KEY not in str(request.headers)
    assert API_KEY not in str(exc.value) and API_KEY not in repr(exc.value)
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(hook.get_conn())
    assert API_KEY not in hook.describe()


# ---------------------------------------------------------------- rate limiter


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_rate_limiter_spaces_calls_evenly_and_never_bursts():
    clock = Clock()
    limiter = RateLimiter(60, margin=1.0, clock=clock)
    assert [limiter.reserve() for _ in range(4)] == [0, pytest.approx(1), pytest.approx(2), pytest.approx(3)]
    clock.t += 100  # idle for a while: the next call goes at once, the one after is spaced again
    assert limiter.reserve() == 0 and limiter.reserve() == pytest.approx(1)


def test_rate_limiter_keeps_a_margin_below_the_configured_rate():
    clock = Clock()
    limiter = RateLimiter(100, clock=clock)
    waits = [limiter.reserve() for _ in range(200)]
    in_first_minute = sum(1 for w in waits if w is not None and w < 60)
    assert in_first_minute == 93  # 100 x 0.93, evenly spaced: no more, and no less


def test_a_429_halves_the_pace_and_honours_retry_after():
    clock = Clock()
    limiter = RateLimiter(60, margin=1.0, clock=clock)
    for _ in range(40):  # 40 calls went through this minute: more than half the pace
        limiter.succeeded()
    limiter.reserve()
    limiter.penalize(retry_after=10)
    assert limiter.reserve() == pytest.approx(10)  # paused until Retry-After
    assert limiter.reserve() == pytest.approx(12)  # then spaced 2 s apart (half the rate)
    limiter.penalize()  # a second 429 of a call already in flight: no second halving
    assert limiter.rate == pytest.approx(30)
    limiter.succeeded()
    clock.t += 6
    limiter.succeeded()  # 6 s of calls going through: 6 / 120 of the ceiling comes back
    assert limiter.rate == pytest.approx(30 + 60 * 6 / 120)


def test_the_first_429_sets_the_pace_to_what_this_process_got_through():
    """Four processes at full pace on one key each get about a quarter through: that is their share."""
    clock = Clock()
    limiter = RateLimiter(60, margin=1.0, clock=clock)
    for _ in range(15):
        limiter.succeeded()
        clock.t += 2
    limiter.penalize()
    assert limiter.rate == pytest.approx(15)


def test_429s_in_a_row_pause_the_key_longer_each_time():
    clock = Clock()
    limiter = RateLimiter(60, margin=1.0, clock=clock)
    for _ in range(60):
        limiter.succeeded()
    limiter.penalize()
    assert limiter.reserve() == pytest.approx(2)
    clock.t += 2
    limiter.penalize()  # refused again: 4 s this time
    assert limiter.reserve() == pytest.approx(4)


def test_thousands_of_429s_in_a_row_keep_the_longest_pause():
    """A server that refuses for long (thousands of 429s in a row) once overflowed the pause (2**n as a float)."""
    clock = Clock()
    limiter = RateLimiter(60, margin=1.0, clock=clock)
    for _ in range(1100):
        limiter.penalize()
    assert limiter.reserve() == pytest.approx(MAX_PAUSE)


def test_a_429_voids_the_slots_reserved_before_it():
    """Callers queued at the old pace must not keep arriving at a server whose window is full."""
    clock = Clock()
    limiter = RateLimiter(60, margin=1.0, clock=clock)
    for _ in range(60):
        limiter.succeeded()
    queued = [limiter.reserve() for _ in range(10)]  # slots 0 to 9 s from now
    assert queued[-1] == pytest.approx(9)
    generation = limiter.generation
    limiter.penalize()
    assert limiter.generation != generation  # the drivers see this and reserve again
    assert limiter.reserve() == pytest.approx(2)  # after the pause, not after the old queue
    assert limiter.reserve() == pytest.approx(4)  # at the new pace (half: 30 a minute)


def test_a_reservation_never_passes_a_deadline():
    clock = Clock()
    limiter = RateLimiter(60, margin=1.0, clock=clock)
    limiter.reserve()
    assert limiter.reserve(not_after=clock.t + 0.5) is None  # the slot (1 s) is after the deadline
    assert limiter.reserve() == pytest.approx(1)  # and nothing was reserved by the refusal


def test_hook_waits_for_the_limiter_instead_of_earning_429s(mock_hook, fake_time):
    ok = httpx.Response(200, json={"status": "success", "data": {"names": []}})
    hook = mock_hook(lambda request: ok, extra={"rate_limit_per_minute": 2})
    for _ in range(3):
        hook.list_automations()
    assert fake_time.sleeps == [pytest.approx(60 / (2 * MARGIN))] * 2


def test_one_limiter_per_key_per_process():
    a = limiter_for_key("key-one-123", 100)
    assert limiter_for_key("key-one-123", 50) is a and a.per_minute == 50
    assert limiter_for_key("key-two-456", 100) is not a


def test_concurrent_async_callers_share_the_limiter(mock_hook, fake_time):
    sent_at = []

    def handler(request):
        sent_at.append(fake_time.now)
        return httpx.Response(200, json={"status": "success", "data": {"names": []}})

    async def main():
        hooks = [mock_hook(handler, extra={"rate_limit_per_minute": 60}) for _ in range(8)]
        await asyncio.gather(*(h.alist_automations() for h in hooks))

    asyncio.run(main())
    # one limiter for the key: the 8 calls went out 60 / (60 x MARGIN) s apart, not together
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sent_at)]
    assert len(sent_at) == 8 and min(gaps) >= 60 / (60 * MARGIN) - 0.01
