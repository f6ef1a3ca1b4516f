"""``AxiomHook``: every axiom.ai v3 endpoint, sync and async, behind one retry and error policy.

Each public call is written once, as a small generator ("flow") that yields two kinds of
effects: ``_Send(request)`` and ``_Sleep(seconds)``. The sync methods drive a flow with an
``httpx.Client`` and ``time.sleep``; the ``a*`` methods drive the same flow with an
``httpx.AsyncClient`` and ``asyncio.sleep``. Request building, response parsing, error
classification, retries (tenacity) and the no-duplicate rule for ``/trigger`` therefore exist
once, and the transports only send.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import httpx
import pendulum
from pendulum import DateTime
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

from airflow_provider_axiom import __version__
from airflow_provider_axiom._compat import BaseHook, get_connection_async, get_extra_async
from airflow_provider_axiom._core import (
    DEFAULT_BASE_URL,
    ApiRequest,
    RemainingRuntime,
    RunData,
    RunReport,
    StopResult,
    TriggerResult,
    closest_names,
    list_automations_request,
    oldest_run_since,
    parse_automation_names,
    parse_json,
    parse_remaining_runtime,
    parse_run_data,
    parse_run_reports,
    parse_stop,
    parse_trigger,
    remaining_runtime_request,
    run_data_request,
    run_reports_request,
    stop_request,
    trigger_request,
    utcnow,
)
from airflow_provider_axiom._ratelimit import RateLimiter, key_fingerprint, limiter_for_key
from airflow_provider_axiom.exceptions import (
    NOT_JSON,
    AxiomBadRequestError,
    AxiomError,
    AxiomNotFoundError,
    AxiomTriggerUncertainError,
    classify_response,
    classify_transport_error,
    redact,
    safe_to_resend,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_RATE_LIMIT = 100
#: Longest single backoff wait, and the total backoff one call may spend, in seconds.
DEFAULT_MAX_WAIT = 30.0
DEFAULT_RETRY_BUDGET = 120.0
#: Longest ``Retry-After`` honoured.
MAX_RETRY_AFTER = 120.0
#: Run reports read when checking whether a lost /trigger answer had started a run.
DEDUP_REPORT_COUNT = 20
#: Slack for the API's second-resolution timestamps when comparing server times.
CLOCK_SLACK = timedelta(seconds=1)


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True)
class _Send:
    request: ApiRequest


@dataclass(frozen=True)
class _Sleep:
    seconds: float


@dataclass(frozen=True)
class _Raw:
    """What the transport got back, with local send and receive times."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    sent_at: DateTime
    received_at: DateTime


@dataclass(frozen=True)
class _Answer:
    body: Any
    raw: _Raw


Flow = Generator[Any, Any, T]


@dataclass(frozen=True)
class AxiomSettings:
    """What the ``axiom`` connection resolves to. The key is excluded from ``repr``."""

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT


def build_base_url(host: str | None, port: int | None = None, schema: str | None = None) -> str:
    """Base URL from a connection's host/port/schema; an empty host means the public API.

    ``host`` may be a full URL (``http://127.0.0.1:8099/api/v3``) or a bare host name (HTTPS is
    assumed). A URL without a path gets ``/api/v3``.
    """
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        host = f"https://{host}"
    url = httpx.URL(host)
    if port and url.port is None:
        url = url.copy_with(port=port)
    path = url.path.rstrip("/")
    if not path:
        path = "/" + schema.strip("/") if schema and schema.strip("/") else "/api/v3"
    return str(url.copy_with(path=path, query=None, fragment=None)).rstrip("/")


def _number(extra: dict[str, Any], name: str, default: float, kind: type = float) -> Any:
    value = extra.get(name)
    if value in (None, ""):
        return kind(default)
    try:
        number = kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError):
        raise AxiomBadRequestError(
            f"connection extra {name!r} must be a number, got {value!r}",
            hint="Fix the axiom connection's extra",
        ) from None
    if number < (0 if name == "max_retries" else 1):
        raise AxiomBadRequestError(f"connection extra {name!r} is out of range: {value!r}")
    return number


def settings_from_connection(conn: Any, extra: dict[str, Any]) -> AxiomSettings:
    """Resolve an Airflow connection (and its parsed extra) to :class:`AxiomSettings`."""
    api_key = (conn.password or "").strip()
    if not api_key:
        raise AxiomBadRequestError(
            f"connection {conn.conn_id!r} has no API key",
            hint="Put the axiom.ai API key in the connection's password field",
        )
    return AxiomSettings(
        api_key=api_key,
        base_url=build_base_url(conn.host, conn.port, conn.schema),
        timeout=_number(extra, "timeout", DEFAULT_TIMEOUT),
        max_retries=_number(extra, "max_retries", DEFAULT_MAX_RETRIES, int),
        rate_limit_per_minute=_number(extra, "rate_limit_per_minute", DEFAULT_RATE_LIMIT, int),
    )


@functools.lru_cache(maxsize=1)
def _shared_ssl_context() -> ssl.SSLContext:
    """One TLS context per process: building one per client costs ~17 ms and ~0.8 MiB (CA bundle)."""
    return httpx.create_ssl_context()


def _parse_http_date(value: str | None) -> DateTime | None:
    if not value:
        return None
    try:
        return pendulum.instance(parsedate_to_datetime(value)).in_timezone("UTC")
    except (TypeError, ValueError, IndexError):
        return None


class AxiomHook(BaseHook):
    """Talks to the axiom.ai v3 API through an ``axiom`` connection.

    Connection: password = API key (required); host = base URL (optional, default
    ``https://lar.axiom.ai/api/v3``); extra ``timeout`` (seconds, 30), ``max_retries`` (5) and
    ``rate_limit_per_minute`` (100).

    Every call validates its input before sending, waits for the process-wide rate limiter of its
    key, retries retryable failures with exponential backoff and full jitter (honouring
    ``Retry-After``), and raises a classified :mod:`~airflow_provider_axiom.exceptions` error.
    No I/O happens until the first call. Use it as a context manager (``with`` / ``async with``)
    or call :meth:`close` / :meth:`aclose` to release the HTTP client.

    :param axiom_conn_id: the connection id.
    :param timeout: overrides the connection's per-request timeout (seconds).
    :param max_retries: overrides the connection's retries per call.
    :param retry_max_wait: longest single backoff wait (seconds).
    :param retry_budget: most total backoff one call may spend (seconds).
    """

    conn_name_attr = "axiom_conn_id"
    default_conn_name = "axiom_default"
    conn_type = "axiom"
    hook_name = "axiom.ai"

    def __init__(
        self,
        axiom_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_max_wait: float = DEFAULT_MAX_WAIT,
        retry_budget: float = DEFAULT_RETRY_BUDGET,
        sleep: Callable[[float], None] | None = None,
        async_sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], DateTime] = utcnow,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        rate_limiter: RateLimiter | None = None,
        settings: AxiomSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.axiom_conn_id = axiom_conn_id
        self._timeout_override = timeout
        self._retries_override = max_retries
        self.retry_max_wait = retry_max_wait
        self.retry_budget = retry_budget
        self._sleep = sleep or time.sleep
        self._async_sleep = async_sleep or asyncio.sleep
        self._clock = clock
        self._transport = transport
        self._async_transport = async_transport
        self._rate_limiter = rate_limiter
        self._settings: AxiomSettings | None = settings
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._skew = timedelta(0)  # server clock minus local clock, learnt from Date headers

    # ------------------------------------------------------------------ connection

    def _apply_overrides(self, settings: AxiomSettings) -> AxiomSettings:
        changes: dict[str, Any] = {}
        if self._timeout_override is not None:
            changes["timeout"] = float(self._timeout_override)
        if self._retries_override is not None:
            changes["max_retries"] = int(self._retries_override)
        if not changes:
            return settings
        return AxiomSettings(**{**settings.__dict__, **changes})

    def get_conn(self) -> AxiomSettings:
        """Resolve the connection (sync); cached for the hook's life."""
        if self._settings is None:
            conn = self.get_connection(self.axiom_conn_id)
            self._settings = self._apply_overrides(settings_from_connection(conn, conn.extra_dejson))
        return self._settings

    async def aget_conn(self) -> AxiomSettings:
        """Resolve the connection with async I/O only (for triggers)."""
        if self._settings is None:
            conn = await get_connection_async(self.axiom_conn_id, self)
            extra = await get_extra_async(conn)
            self._settings = self._apply_overrides(settings_from_connection(conn, extra))
        return self._settings

    def _limiter(self, settings: AxiomSettings) -> RateLimiter:
        if self._rate_limiter is None:
            self._rate_limiter = limiter_for_key(settings.api_key, settings.rate_limit_per_minute)
        return self._rate_limiter

    def _client_kwargs(self, settings: AxiomSettings) -> dict[str, Any]:
        return {
            "base_url": settings.base_url + "/",
            "timeout": httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)),
            "headers": {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": f"airflow-provider-axiom/{__version__}",
            },
            "follow_redirects": False,
            "verify": _shared_ssl_context(),
        }

    def _sync_client(self, settings: AxiomSettings) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(transport=self._transport, **self._client_kwargs(settings))
        return self._client

    def _async_client(self, settings: AxiomSettings) -> httpx.AsyncClient:
        if self._aclient is None:
            self._aclient = httpx.AsyncClient(transport=self._async_transport, **self._client_kwargs(settings))
        return self._aclient

    def close(self) -> None:
        """Close the sync HTTP client."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the async HTTP client (and the sync one, if any)."""
        if self._aclient is not None:
            await self._aclient.aclose()
            self._aclient = None
        self.close()

    def __enter__(self) -> AxiomHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> AxiomHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ drivers

    def _drive(self, flow: Flow[T]) -> T:
        settings = self.get_conn()
        step = _Stepper(flow)
        while (effect := step.next()) is not None:
            if isinstance(effect, _Sleep):
                self._sleep(effect.seconds)
                continue
            if wait := self._limiter(settings).reserve():
                self._sleep(wait)
            sent_at = self._clock()
            try:
                response = self._sync_client(settings).post(
                    effect.request.path, content=effect.request.encode(settings.api_key)
                )
            except httpx.HTTPError as exc:
                step.fail(exc)
                continue
            step.answer(_Raw(response.status_code, response.headers, response.content, sent_at, self._clock()))
        return step.result

    async def _adrive(self, flow: Flow[T]) -> T:
        settings = await self.aget_conn()
        step = _Stepper(flow)
        while (effect := step.next()) is not None:
            if isinstance(effect, _Sleep):
                await self._async_sleep(effect.seconds)
                continue
            if wait := self._limiter(settings).reserve():
                await self._async_sleep(wait)
            sent_at = self._clock()
            try:
                response = await self._async_client(settings).post(
                    effect.request.path, content=effect.request.encode(settings.api_key)
                )
            except httpx.HTTPError as exc:
                step.fail(exc)
                continue
            step.answer(_Raw(response.status_code, response.headers, response.content, sent_at, self._clock()))
        return step.result

    # ------------------------------------------------------------------ flows (shared by both drivers)

    def _retrying(self, endpoint: str) -> Retrying:
        settings = self._settings
        max_retries = settings.max_retries if settings else DEFAULT_MAX_RETRIES
        jitter = wait_random_exponential(multiplier=1, max=self.retry_max_wait)
        budget = self.retry_budget

        def wait(state: RetryCallState) -> float:
            seconds = float(jitter(state))
            exc = state.outcome.exception() if state.outcome else None
            retry_after = getattr(exc, "retry_after", None)
            if retry_after:
                seconds = max(seconds, min(float(retry_after), MAX_RETRY_AFTER))
            return seconds

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "axiom.ai %s failed (attempt %d of %d), retrying in %.1fs: %s",
                endpoint,
                state.attempt_number,
                max_retries + 1,
                state.upcoming_sleep,
                exc,
            )

        return Retrying(
            stop=stop_after_attempt(max_retries + 1) | _stop_over_budget(budget),
            wait=wait,
            retry=retry_if_exception(_is_retryable),
            sleep=_SleepRecorder(),
            before_sleep=before_sleep,
            reraise=True,
        )

    def _exchange(self, request: ApiRequest) -> Flow[_Answer]:
        """One send, classified: returns the parsed answer or raises an :class:`AxiomError`."""
        try:
            raw = yield _Send(request)
        except httpx.HTTPError as exc:
            raise classify_transport_error(exc, endpoint=request.endpoint) from exc
        self._learn_clock(raw)
        body = parse_json(raw.content)
        if body is NOT_JSON and request.allow_empty_body and 200 <= raw.status_code < 300:
            body = {}
        key = self._settings.api_key if self._settings else None
        error = classify_response(
            raw.status_code,
            body,
            raw_text=raw.content[:2000].decode("utf-8", "replace") if body is NOT_JSON else "",
            headers=raw.headers,
            endpoint=request.endpoint,
            secret=key,
        )
        if error is not None:
            raise error
        return _Answer(body, raw)

    def _call(self, request: ApiRequest) -> Flow[_Answer]:
        """``_exchange`` with retries and backoff."""
        retrying = self._retrying(request.endpoint)
        for attempt in retrying:
            yield from _pending_sleep(retrying)
            with attempt:
                return (yield from self._exchange(request))
        raise AssertionError("unreachable")  # pragma: no cover

    def _learn_clock(self, raw: _Raw) -> None:
        server = _parse_http_date(raw.headers.get("date"))
        if server is not None:
            self._skew = server - raw.received_at

    def _server_now(self) -> DateTime:
        return self._clock() + self._skew

    def _trigger_flow(self, request: ApiRequest, name: str) -> Flow[TriggerResult]:
        """Send ``/trigger``; never re-send while a lost answer may have started a run."""
        retrying = self._retrying("/trigger")
        unverified_since: DateTime | None = None  # set when a lost answer may have started a run
        try:
            for attempt in retrying:
                yield from _pending_sleep(retrying)
                with attempt:
                    if unverified_since is not None:
                        found = yield from self._run_started_since(name, unverified_since)
                        if found is not None:
                            return _recovered(name, found, unverified_since)
                        unverified_since = None
                    sent_server = self._server_now()
                    try:
                        answer = yield from self._exchange(request)
                    except AxiomError as err:
                        if err.retryable and not safe_to_resend(err):
                            unverified_since = sent_server - CLOCK_SLACK
                        raise
                    raw = answer.raw
                    triggered_at = _parse_http_date(raw.headers.get("date")) or raw.received_at
                    round_trip = raw.received_at - raw.sent_at
                    return parse_trigger(
                        answer.body,
                        automation_name=name,
                        triggered_at=triggered_at,
                        sent_at=triggered_at - round_trip,
                    )
        except AxiomError as err:
            if unverified_since is None or isinstance(err, AxiomTriggerUncertainError):
                raise
            # Out of attempts after an answer that may have started a run: look once more, so
            # that a task retry does not start a second run.
            found = yield from self._run_started_since(name, unverified_since)
            if found is not None:
                return _recovered(name, found, unverified_since)
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _run_started_since(self, name: str, since: DateTime) -> Flow[RunReport | None]:
        try:
            answer = yield from self._call(run_reports_request(DEDUP_REPORT_COUNT))
        except AxiomError as err:
            raise AxiomTriggerUncertainError(
                f"the /trigger answer for {name!r} was lost and run reports could not be read to check "
                "whether a run started, so it was not re-sent",
                api_message=err.api_message,
                status_code=err.status_code,
                endpoint="/trigger",
            ) from err
        return oldest_run_since(parse_run_reports(answer.body), name, since - CLOCK_SLACK)

    def _with_suggestions(self, flow: Flow[T], name: str) -> Flow[T]:
        """Run ``flow``; on "Task not found", name the closest existing automations."""
        try:
            return (yield from flow)
        except AxiomNotFoundError as err:
            if err.api_message and not err.api_message.lower().startswith("task not found"):
                raise
            try:
                names = parse_automation_names((yield from self._call(list_automations_request())).body)
            except AxiomError:
                raise err from None
            err.suggest(closest_names(name, names))
            raise

    # ------------------------------------------------------------------ flows per endpoint

    def _flow_trigger(self, name: str, data: Any) -> Flow[TriggerResult]:
        request = trigger_request(name, data)  # validates before anything is sent
        return self._with_suggestions(self._trigger_flow(request, name), name)

    def _flow_run_data(self, name: str | None, run_id: str | None) -> Flow[RunData]:
        request = run_data_request(name, run_id)

        def flow() -> Flow[RunData]:
            return parse_run_data((yield from self._call(request)).body)

        return self._with_suggestions(flow(), name) if name and not run_id else flow()

    def _flow_simple(self, request: ApiRequest, parse: Callable[[Any], T]) -> Flow[T]:
        return parse((yield from self._call(request)).body)

    # ------------------------------------------------------------------ public sync API

    def trigger_automation(self, name: str, data: Any = None) -> TriggerResult:
        """Start a cloud run of the automation ``name`` with optional input rows.

        ``data`` is a list of rows (2-D) or a list of tables (3-D); cells become strings. A
        ``/trigger`` whose answer may have been lost after reaching the server is re-sent only
        when run reports show no run of ``name`` created since the attempt.
        """
        return self._drive(self._flow_trigger(name, data))

    def get_run_data(self, name: str | None = None, *, run_id: str | None = None) -> RunData:
        """Status (``Running``/``Success``/``Failure``) and output of the latest run of ``name``.

        ``run_id`` is used instead of the name when the API gave one.
        """
        return self._drive(self._flow_run_data(name, run_id))

    def get_run_reports(self, count: int = 5) -> list[RunReport]:
        """The most recent run reports, newest first."""
        return self._drive(self._flow_simple(run_reports_request(count), parse_run_reports))

    def list_automations(self) -> list[str]:
        """Names of every automation saved to the cloud on the account."""
        return self._drive(self._flow_simple(list_automations_request(), parse_automation_names))

    def get_remaining_runtime(self) -> RemainingRuntime:
        """Runtime minutes used, allowed and remaining in the billing period."""
        return self._drive(self._flow_simple(remaining_runtime_request(), parse_remaining_runtime))

    def stop_run(self, viewer_url: str) -> StopResult:
        """Stop the run behind ``viewer_url`` (``pid``/``pw`` are read from it). Finished runs: no-op."""
        request = stop_request(viewer_url)
        return self._drive(self._flow_simple(request, lambda body: parse_stop(body, request.body["pid"])))

    def test_connection(self) -> tuple[bool, str]:
        """Check the key and URL with a read-only call (``/remaining-runtime``)."""
        try:
            runtime = self.get_remaining_runtime()
        except AxiomError as err:
            return False, str(err)
        except Exception as err:  # a broken connection definition, for instance
            key = self._settings.api_key if self._settings else None
            return False, f"{type(err).__name__}: {redact(str(err), key)}"
        finally:
            self.close()
        return (
            True,
            f"Connected to axiom.ai: {runtime.remaining:g} of {runtime.allowance:g} runtime minutes left",
        )

    # ------------------------------------------------------------------ public async API

    async def atrigger_automation(self, name: str, data: Any = None) -> TriggerResult:
        """Async :meth:`trigger_automation`."""
        return await self._adrive(self._flow_trigger(name, data))

    async def aget_run_data(self, name: str | None = None, *, run_id: str | None = None) -> RunData:
        """Async :meth:`get_run_data`."""
        return await self._adrive(self._flow_run_data(name, run_id))

    async def aget_run_reports(self, count: int = 5) -> list[RunReport]:
        """Async :meth:`get_run_reports`."""
        return await self._adrive(self._flow_simple(run_reports_request(count), parse_run_reports))

    async def alist_automations(self) -> list[str]:
        """Async :meth:`list_automations`."""
        return await self._adrive(self._flow_simple(list_automations_request(), parse_automation_names))

    async def aget_remaining_runtime(self) -> RemainingRuntime:
        """Async :meth:`get_remaining_runtime`."""
        return await self._adrive(self._flow_simple(remaining_runtime_request(), parse_remaining_runtime))

    async def astop_run(self, viewer_url: str) -> StopResult:
        """Async :meth:`stop_run`."""
        request = stop_request(viewer_url)
        return await self._adrive(self._flow_simple(request, lambda body: parse_stop(body, request.body["pid"])))

    def describe(self) -> str:
        """Where this hook points, safe to log (the key appears only as a fingerprint)."""
        settings = self.get_conn()
        return f"axiom.ai at {settings.base_url} (key {key_fingerprint(settings.api_key)})"


def stopping_hook(axiom_conn_id: str) -> AxiomHook:
    """A hook for the kill and timeout paths: few retries and a short timeout, so stopping never hangs."""
    return AxiomHook(axiom_conn_id, max_retries=2, timeout=15)


class _Stepper(Generic[T]):
    """Resumes a flow with what the transport got (an answer or an error) and hands out its next effect."""

    def __init__(self, flow: Flow[T]) -> None:
        self._flow = flow
        self._value: Any = None
        self._error: BaseException | None = None
        self.result: T

    def answer(self, value: _Raw) -> None:
        self._value = value

    def fail(self, error: BaseException) -> None:
        self._error = error

    def next(self) -> _Send | _Sleep | None:
        """The next effect, or None once the flow has returned (its value is then ``result``)."""
        value, error = self._value, self._error
        self._value, self._error = None, None
        try:
            return self._flow.throw(error) if error is not None else self._flow.send(value)
        except StopIteration as stop:
            self.result = stop.value
            return None


class _stop_over_budget(stop_base):
    """Stop once the waits so far reach ``budget`` seconds (counted from the waits, not a clock)."""

    def __init__(self, budget: float) -> None:
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.idle_for >= self.budget


class _SleepRecorder:
    """Given to tenacity as its ``sleep``: records the wait so the flow can yield it as an effect."""

    def __init__(self) -> None:
        self.pending: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pending.append(seconds)


def _pending_sleep(retrying: Retrying) -> Flow[None]:
    recorder = retrying.sleep
    if isinstance(recorder, _SleepRecorder) and recorder.pending:
        yield _Sleep(recorder.pending.pop())


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


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, AxiomError) and exc.retryable
