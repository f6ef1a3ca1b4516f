"""What one hook call does, as plain state machines: which request to send next, how long to wait, when to stop.

No I/O here. A driver in ``_transport`` asks a plan for its first :class:`Step`, performs it (a
``Send`` is sent, a ``Sleep`` slept) and hands the plan what came back; the plan answers with the
next step, until ``Done`` or an :class:`~airflow_provider_axiom.exceptions.AxiomError`. So retries,
backoff and the no-second-run rule for ``/trigger`` are written once, for the sync and the async
hook alike.
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

import httpx
from pendulum import DateTime

from airflow_provider_axiom._matching import first_run_since
from airflow_provider_axiom._protocol import (
    NOT_JSON,
    ApiRequest,
    classify_response,
    classify_transport_error,
    closest_names,
    list_automations_request,
    parse_automation_names,
    parse_http_date,
    parse_json,
    parse_run_reports,
    parse_trigger,
    run_reports_request,
    safe_to_resend,
)
from airflow_provider_axiom._ratelimit import key_fingerprint
from airflow_provider_axiom._run_ref import TRIGGER_SPACING
from airflow_provider_axiom.exceptions import (
    AxiomError,
    AxiomNotFoundError,
    AxiomRateLimitError,
    AxiomTriggerUncertainError,
)
from airflow_provider_axiom.results import RunReport, TriggerResult

log = logging.getLogger(__name__)

#: What the calls made in this context concern, when not the task that logs them: the shared
#: poller's task sets it to its key (see ``_completion.notices``), and retry lines say so.
LOG_SCOPE: contextvars.ContextVar[str] = contextvars.ContextVar("axiom_log_scope", default="")

T = TypeVar("T")

#: Longest single backoff wait, and the total backoff one call may spend, in seconds (the hook's defaults).
DEFAULT_MAX_WAIT = 30.0
DEFAULT_RETRY_BUDGET = 120.0

#: Run reports read when checking whether a lost /trigger answer had started a run.
CHECK_REPORT_COUNT = 20
#: Seconds between looks at run reports while checking a lost /trigger answer.
CHECK_INTERVAL = 2.0
#: Slack for the API's second-resolution timestamps when comparing server times.
CLOCK_SLACK = timedelta(seconds=1)


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Send:
    request: ApiRequest


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Done(Generic[T]):
    value: T


Step = Send | Sleep | Done[Any]


@dataclass(frozen=True)
class Raw:
    """What the transport got back, with the local send and receive times and the server clock estimate."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    sent_at: DateTime
    received_at: DateTime


@dataclass
class CallContext:
    """What plans need from the hook: the base URL and key (to name and redact), retry policy, server clock."""

    base_url: str
    api_key: str
    max_retries: int
    trigger_check_window: float
    retry_max_wait: float = DEFAULT_MAX_WAIT
    retry_budget: float = DEFAULT_RETRY_BUDGET
    rate_limit_patience: float = 600.0
    skew: timedelta = timedelta(0)  # server clock minus local clock, learnt from Date headers
    jitter: Callable[[], float] = random.random

    def learn_clock(self, raw: Raw) -> None:
        server = parse_http_date(raw.headers.get("date"))
        if server is not None:
            self.skew = server - raw.received_at


# --------------------------------------------------------------------------- backoff


class Backoff:
    """Exponential backoff with full jitter, ``Retry-After`` honoured, bounded by attempts and total wait.

    A 429 means the call was refused before doing anything, so it does not use up ``max_retries``;
    it is retried patiently, for up to ``rate_limit_patience`` seconds of waiting in all.
    """

    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        self.failures = 0
        self.refusals = 0
        self.waited = 0.0
        self.waited_refused = 0.0

    def next_wait(self, err: AxiomError) -> float | None:
        """Seconds to wait before retrying after ``err``, or None to give up."""
        if not err.retryable:
            return None
        ctx = self.ctx
        if isinstance(err, AxiomRateLimitError):
            self.refusals += 1
            # at least the limiter's pause after a 429 (2 s), doubling, with half jitter
            wait = min(ctx.retry_max_wait, 2.0 ** min(self.refusals + 1, 6)) * (0.5 + ctx.jitter() / 2)
            wait = max(wait, min(err.retry_after or 0.0, ctx.rate_limit_patience))
            if self.waited_refused + wait > ctx.rate_limit_patience:
                return None
            self.waited_refused += wait
            return wait
        self.failures += 1
        if self.failures > ctx.max_retries:
            return None
        wait = ctx.jitter() * min(ctx.retry_max_wait, 2.0**self.failures)
        wait = max(wait, min(err.retry_after or 0.0, ctx.retry_max_wait * 4))
        if self.waited + wait > ctx.retry_budget:
            return None
        self.waited += wait
        return wait


def interpret(ctx: CallContext, request: ApiRequest, raw: Raw) -> Any:
    """The answer's JSON body, or raise the classified error it stands for."""
    ctx.learn_clock(raw)
    body = parse_json(raw.content)
    if body is NOT_JSON and request.allow_empty_body and 200 <= raw.status_code < 300:
        body = {}
    error = classify_response(
        raw.status_code,
        body,
        raw_text=raw.content[:2000].decode("utf-8", "replace") if body is NOT_JSON else "",
        headers=raw.headers,
        endpoint=request.endpoint,
        secret=ctx.api_key,
    )
    if error is not None:
        raise error
    return body


def transport_error(ctx: CallContext, request: ApiRequest, exc: httpx.HTTPError) -> AxiomError:
    return classify_transport_error(exc, endpoint=request.endpoint, base_url=ctx.base_url)


# --------------------------------------------------------------------------- plans


class Plan(Generic[T]):
    """A call as a state machine. ``start`` gives the first step; ``answered``/``failed``/``slept`` the next."""

    def start(self) -> Step:
        raise NotImplementedError

    def answered(self, raw: Raw) -> Step:
        raise NotImplementedError

    def failed(self, exc: httpx.HTTPError) -> Step:
        raise NotImplementedError

    def slept(self) -> Step:
        raise NotImplementedError


class Call(Plan[T]):
    """One request, retried with :class:`Backoff` while it fails retryably; ``parse`` reads the answer."""

    def __init__(self, ctx: CallContext, request: ApiRequest, parse: Callable[[Any, Raw], T]) -> None:
        self.ctx = ctx
        self.request = request
        self.parse = parse
        self.backoff = Backoff(ctx)

    def start(self) -> Step:
        return Send(self.request)

    def answered(self, raw: Raw) -> Step:
        try:
            body = interpret(self.ctx, self.request, raw)
        except AxiomError as err:
            return self._retry(err)
        return Done(self.parse(body, raw))

    def failed(self, exc: httpx.HTTPError) -> Step:
        return self._retry(transport_error(self.ctx, self.request, exc))

    def slept(self) -> Step:
        return Send(self.request)

    def _retry(self, err: AxiomError) -> Step:
        wait = self.backoff.next_wait(err)
        if wait is None:
            raise err
        scope = LOG_SCOPE.get()
        log.warning(
            "axiom.ai %s failed, retrying in %.1fs%s: %s",
            self.request.endpoint,
            wait,
            f" ({scope})" if scope else "",
            err,
        )
        return Sleep(wait)


class SuggestNames(Plan[T]):
    """Run ``inner``; if it ends in "Task not found", read the automation names and suggest the closest."""

    def __init__(self, ctx: CallContext, inner: Plan[T], name: str | None) -> None:
        self.ctx = ctx
        self.inner: Plan[Any] = inner
        self.name = name
        self.error: AxiomNotFoundError | None = None

    def _guard(self, step: Callable[[], Step]) -> Step:
        try:
            result = step()
        except AxiomNotFoundError as err:
            if self.error is not None or not self.name or not _is_unknown_name(err):
                raise
            self.error = err
            self.inner = Call(self.ctx, list_automations_request(), lambda body, raw: parse_automation_names(body))
            return self.inner.start()
        except AxiomError:
            if self.error is not None:  # the names could not be read: report the original error
                raise self.error from None
            raise
        if isinstance(result, Done) and self.error is not None:
            self.error.suggest(closest_names(str(self.name), result.value))
            raise self.error
        return result

    def start(self) -> Step:
        return self._guard(self.inner.start)

    def answered(self, raw: Raw) -> Step:
        return self._guard(lambda: self.inner.answered(raw))

    def failed(self, exc: httpx.HTTPError) -> Step:
        return self._guard(lambda: self.inner.failed(exc))

    def slept(self) -> Step:
        return self._guard(self.inner.slept)


class TriggerSpacing:
    """Same-name triggers on one key from one process leave at least ``TRIGGER_SPACING`` apart.

    So the runs they start are created far enough apart for their windows never to overlap, and
    each can be told from the others in run reports. Slots are reserved in order, with no API call.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[tuple[str, str, int], DateTime] = {}

    def reserve(self, api_key: str, name: str, clock: Callable[[], DateTime]) -> float:
        """Seconds to wait before this trigger may leave (its slot is taken). Slots are per key, name and clock."""
        key = (key_fingerprint(api_key), name, id(clock))
        now = clock()
        with self._lock:
            for stale in [k for k, at in self._next.items() if at < now]:
                del self._next[stale]
            at = max(now, self._next.get(key, now))
            self._next[key] = at + TRIGGER_SPACING
        return (at - now).total_seconds()


#: The process's trigger slots.
TRIGGER_SLOTS = TriggerSpacing()


def _is_unknown_name(err: AxiomNotFoundError) -> bool:
    return not err.api_message or err.api_message.lower().startswith("task not found")


class TriggerCall(Plan[TriggerResult]):
    """``/trigger``, never sent twice while a lost answer may have started a run.

    A failure that surely happened before the server did anything (a connect error, a 429) is
    retried like any call. After one that may have started a run (a timeout, a dropped connection,
    a gateway error), run reports are watched for up to ``trigger_check_window`` seconds (the API
    may list a new run a few seconds late). A run of the automation created since the attempt means
    the trigger worked: it is returned (``recovered=True``) and nothing is re-sent. Only when the
    whole window showed no such run is ``/trigger`` sent again (if attempts remain). If run reports
    could not be read at all, :class:`AxiomTriggerUncertainError` is raised instead of guessing.
    """

    def __init__(self, ctx: CallContext, request: ApiRequest, name: str, now: Callable[[], DateTime]) -> None:
        self.ctx = ctx
        self.request = request
        self.name = name
        self.now = now
        self.backoff = Backoff(ctx)
        self.sent_server: DateTime | None = None
        # While checking a lost answer: the error, the earliest creation time that counts, when checking began.
        self.lost: AxiomError | None = None
        self.since: DateTime | None = None
        self.check_began: DateTime | None = None
        self.looks_read = 0
        self.pending: Step | None = None  # what to do after the current Sleep

    def _send_trigger(self) -> Step:
        self.sent_server = self.now() + self.ctx.skew
        return Send(self.request)

    def _spaced_send(self) -> Step:
        """Send once this automation's next trigger slot in the process has come."""
        wait = TRIGGER_SLOTS.reserve(self.ctx.api_key, self.name, self.now)
        if wait <= 0.001:
            return self._send_trigger()
        log.info("axiom.ai: spacing triggers of %r from this process: sending in %.1fs", self.name, wait)
        self.pending = Send(self.request)
        return Sleep(wait)

    def start(self) -> Step:
        return self._spaced_send()

    def slept(self) -> Step:
        step, self.pending = self.pending, None
        if step is None or (isinstance(step, Send) and step.request is self.request):
            return self._send_trigger()
        return step

    def answered(self, raw: Raw) -> Step:
        if self.lost is not None:
            return self._look_answered(raw)
        try:
            body = interpret(self.ctx, self.request, raw)
        except AxiomError as err:
            return self._trigger_failed(err)
        triggered_at = parse_http_date(raw.headers.get("date")) or raw.received_at
        round_trip = raw.received_at - raw.sent_at
        return Done(
            parse_trigger(body, automation_name=self.name, triggered_at=triggered_at, sent_at=triggered_at - round_trip)
        )

    def failed(self, exc: httpx.HTTPError) -> Step:
        if self.lost is not None:
            return self._next_look(None, read=False)
        return self._trigger_failed(transport_error(self.ctx, self.request, exc))

    def _trigger_failed(self, err: AxiomError) -> Step:
        if err.retryable and not safe_to_resend(err):
            assert self.sent_server is not None
            self.lost = err
            self.since = self.sent_server - CLOCK_SLACK
            self.check_began = self.now()
            self.looks_read = 0
            log.warning(
                "axiom.ai /trigger of %r may have started a run but its answer was lost (%s); "
                "watching run reports for up to %.0fs before deciding whether to send it again",
                self.name,
                err,
                self.ctx.trigger_check_window,
            )
            return Send(run_reports_request(CHECK_REPORT_COUNT))
        wait = self.backoff.next_wait(err)
        if wait is None:
            raise err
        log.warning("axiom.ai /trigger failed before reaching the API, retrying in %.1fs: %s", wait, err)
        self.pending = Send(self.request)
        return Sleep(wait)

    def _look_answered(self, raw: Raw) -> Step:
        request = run_reports_request(CHECK_REPORT_COUNT)
        try:
            reports = parse_run_reports(interpret(self.ctx, request, raw))
        except AxiomError:
            return self._next_look(None, read=False)
        assert self.since is not None
        return self._next_look(first_run_since(reports, self.name, self.since - CLOCK_SLACK), read=True)

    def _next_look(self, found: RunReport | None, *, read: bool) -> Step:
        lost, since, began = self.lost, self.since, self.check_began
        assert lost is not None and since is not None and began is not None
        if found is not None:
            return Done(_recovered(self.name, found, since))
        window = self.ctx.trigger_check_window
        elapsed = (self.now() - began).total_seconds()
        self.looks_read += int(read)
        # Only a look answered after the whole window rules out a run the API lists late. While
        # looks fail (a 429 burst, a gateway), keep looking, up to the retry budget beyond it.
        if not (read and elapsed >= window) and elapsed < window + self.ctx.retry_budget:
            self.pending = Send(run_reports_request(CHECK_REPORT_COUNT))
            return Sleep(min(CHECK_INTERVAL, window - elapsed) if elapsed < window else CHECK_INTERVAL)
        self.lost = None
        if not (read and elapsed >= window):
            raise AxiomTriggerUncertainError(
                f"the /trigger answer for {self.name!r} was lost and run reports could not be read "
                f"{window:.0f}s later to check whether a run started, so it was not re-sent",
                api_message=lost.api_message,
                status_code=lost.status_code,
                endpoint="/trigger",
            ) from lost
        if self.backoff.next_wait(lost) is None:  # the window was the wait; this only counts the attempt
            raise lost
        log.warning(
            "axiom.ai: no run of %r appeared in run reports within %.0fs: sending /trigger again", self.name, window
        )
        return self._spaced_send()


def _recovered(name: str, report: RunReport, since: DateTime) -> TriggerResult:
    log.warning(
        "axiom.ai /trigger answer was lost, but run reports show a run of %r created at %s: not re-sending",
        name,
        report.created_at,
    )
    return TriggerResult(
        automation_name=name,
        status="started",
        viewer_url=None,
        message="The trigger answer was lost; the run was found in run reports (no viewer link).",
        triggered_at=report.created_at,
        sent_at=since,
        recovered=True,
    )
