"""``/trigger`` as a plan: spaced from its automation's last trigger in the process, and never sent twice
while a lost answer may have started a run.

What a run is and how one is told from another is not known here: the caller passes the spacing
and the function that finds, in run reports, the run a lost answer may have started.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta

import httpx
from pendulum import DateTime

from airflow_provider_axiom._calls.backoff import Backoff
from airflow_provider_axiom._calls.steps import CallContext, Done, Plan, Raw, Send, Sleep, Step
from airflow_provider_axiom._protocol import (
    ApiRequest,
    parse_http_date,
    parse_run_reports,
    parse_trigger,
    run_reports_request,
    safe_to_resend,
)
from airflow_provider_axiom._ratelimit import key_fingerprint
from airflow_provider_axiom.exceptions import AxiomError, AxiomTriggerUncertainError
from airflow_provider_axiom.results import RunReport, TriggerResult

log = logging.getLogger(__name__)

#: Run reports read when checking whether a lost /trigger answer had started a run.
CHECK_REPORT_COUNT = 20
#: Seconds between looks at run reports while checking a lost /trigger answer.
CHECK_INTERVAL = 2.0
#: Slack for the API's second-resolution timestamps when comparing server times.
CLOCK_SLACK = timedelta(seconds=1)

#: Given run reports, the automation's name and the earliest creation time that counts: the run a lost
#: answer may have started, or None (``_matching.first_run_since``, passed in by the hook).
FindRun = Callable[[Sequence[RunReport], str, DateTime], "RunReport | None"]


class TriggerSpacing:
    """Same-name triggers on one key from one process leave at least ``spacing`` apart.

    So the runs they start are created far enough apart for their windows never to overlap, and
    each can be told from the others in run reports. Slots are reserved in order, with no API call.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[tuple[str, str, int], DateTime] = {}

    def reserve(self, api_key: str, name: str, clock: Callable[[], DateTime], spacing: timedelta) -> float:
        """Seconds to wait before this trigger may leave (its slot is taken). Slots are per key, name and clock."""
        key = (key_fingerprint(api_key), name, id(clock))
        now = clock()
        with self._lock:
            for stale in [k for k, at in self._next.items() if at < now]:
                del self._next[stale]
            at = max(now, self._next.get(key, now))
            self._next[key] = at + spacing
        return (at - now).total_seconds()


#: The process's trigger slots.
TRIGGER_SLOTS = TriggerSpacing()


class TriggerCall(Plan[TriggerResult]):
    """``/trigger``, never sent twice while a lost answer may have started a run.

    A failure that surely happened before the server did anything (a connect error, a 429) is
    retried like any call. After one that may have started a run (a timeout, a dropped connection,
    a gateway error), run reports are watched for up to ``trigger_check_window`` seconds (the API
    may list a new run a few seconds late). A run of the automation created since the attempt means
    the trigger worked: it is returned (``recovered=True``) and nothing is re-sent. Only when the
    whole window showed no such run is ``/trigger`` sent again (if attempts remain). If run reports
    could not be read at all, :class:`AxiomTriggerUncertainError` is raised instead of guessing.

    ``spacing``: the least time between triggers of one automation on one key from this process;
    ``find_run``: the run a lost answer may have started (see :data:`FindRun`).
    """

    def __init__(
        self,
        ctx: CallContext,
        request: ApiRequest,
        name: str,
        now: Callable[[], DateTime],
        *,
        spacing: timedelta,
        find_run: FindRun,
    ) -> None:
        self.ctx = ctx
        self.spacing = spacing
        self.find_run = find_run
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
        wait = TRIGGER_SLOTS.reserve(self.ctx.api_key, self.name, self.now, self.spacing)
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
            body = self.ctx.interpret(self.request, raw)
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
        return self._trigger_failed(self.ctx.transport_error(self.request, exc))

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
            reports = parse_run_reports(self.ctx.interpret(request, raw))
        except AxiomError:
            return self._next_look(None, read=False)
        assert self.since is not None
        return self._next_look(self.find_run(reports, self.name, self.since - CLOCK_SLACK), read=True)

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
