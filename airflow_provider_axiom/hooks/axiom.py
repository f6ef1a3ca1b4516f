"""``AxiomHook``: every axiom.ai v3 endpoint, sync and async, behind one retry and error policy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from pendulum import DateTime

from airflow_provider_axiom import _metrics, get_provider_info
from airflow_provider_axiom._calls.backoff import DEFAULT_MAX_WAIT, DEFAULT_RETRY_BUDGET
from airflow_provider_axiom._calls.endpoints import (
    list_automations_plan,
    remaining_runtime_plan,
    run_data_plan,
    run_reports_plan,
    stop_plan,
    trigger_plan,
)
from airflow_provider_axiom._calls.steps import CallContext, Plan
from airflow_provider_axiom._compat import (
    AirflowNotFoundException,
    BaseHook,
    get_connection_async,
)
from airflow_provider_axiom._connection import (
    AxiomSettings,
    connection_extras,
    connection_form_widgets,
    missing_connection,
    settings_from_connection,
    ui_field_behaviour,
)
from airflow_provider_axiom._matching import first_run_since
from airflow_provider_axiom._protocol import redact
from airflow_provider_axiom._ratelimit import key_fingerprint
from airflow_provider_axiom._run_ref import TRIGGER_SPACING
from airflow_provider_axiom._transport import SYSTEM_CLOCK, Clock, Transport
from airflow_provider_axiom.exceptions import AxiomError
from airflow_provider_axiom.results import RemainingRuntime, RunData, RunReport, StopResult, TriggerResult

T = TypeVar("T")


class AxiomHook(BaseHook):
    """Talks to the axiom.ai v3 API through an ``axiom`` connection.

    Connection: password = API key (required); host = base URL (optional, default
    ``https://lar.axiom.ai/api/v3``); extras ``timeout`` (30 s), ``connect_timeout`` (5 s),
    ``max_retries`` (5), ``rate_limit_per_minute`` (100) and ``trigger_check_window`` (10 s).

    Every call validates its input before sending, waits for the process-wide rate limiter of its
    key, retries retryable failures with exponential backoff and full jitter (honouring
    ``Retry-After``), and raises a classified :mod:`~airflow_provider_axiom.exceptions` error.
    No I/O happens until the first call. Use it as a context manager (``with`` / ``async with``)
    or call :meth:`close` / :meth:`aclose` to release the HTTP clients.

    :param axiom_conn_id: the connection id.
    :param timeout: overrides the connection's per-request timeout (seconds).
    :param max_retries: overrides the connection's retries per call.
    :param retry_max_wait: longest single backoff wait (seconds).
    :param retry_budget: most total backoff one call may spend (seconds).
    :param transport: an httpx transport to send through instead of the network
        (``httpx.MockTransport`` in tests; it serves the sync and the async calls).
    :param clock: the time source (:class:`~airflow_provider_axiom._transport.Clock`); tests pass a fake one.
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
        transport: Any = None,
        clock: Clock | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.axiom_conn_id = axiom_conn_id
        self._overrides: dict[str, Any] = {"timeout": timeout, "max_retries": max_retries}
        self.retry_max_wait = retry_max_wait
        self.retry_budget = retry_budget
        self._http_transport = transport
        self.clock = clock or SYSTEM_CLOCK
        self._transport: Transport | None = None
        self._ctx: CallContext | None = None

    # ------------------------------------------------------------------ connection

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form for Airflow 3.0/3.1 (3.2+ reads provider info's ``ui-field-behaviour``)."""
        return ui_field_behaviour(get_provider_info())

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extras' form fields for Airflow 3.0/3.1 (3.2+ reads provider info's ``conn-fields``)."""
        return connection_form_widgets(get_provider_info())

    def _resolved(self, conn: Any) -> Transport:
        settings = settings_from_connection(conn, connection_extras(conn)).with_overrides(**self._overrides)
        self._transport = Transport(
            settings, clock=self.clock, transport=self._http_transport, conn_id=self.axiom_conn_id
        )
        self._ctx = CallContext.of(settings, retry_max_wait=self.retry_max_wait, retry_budget=self.retry_budget)
        return self._transport

    def transport(self) -> Transport:
        """Resolve the connection (sync, once) and return the transport built from it."""
        if self._transport is None:
            try:
                conn = self.get_connection(self.axiom_conn_id)
            except AirflowNotFoundException:
                raise missing_connection(self.axiom_conn_id) from None
            return self._resolved(conn)
        return self._transport

    async def atransport(self) -> Transport:
        """Resolve the connection with async I/O only (for triggers) and return the transport."""
        if self._transport is None:
            try:
                conn = await get_connection_async(self.axiom_conn_id, self)
            except AirflowNotFoundException:
                raise missing_connection(self.axiom_conn_id) from None
            return self._resolved(conn)
        return self._transport

    def sibling(self) -> AxiomHook:
        """A new hook for the same connection, transport, clock and retry policy (its own HTTP clients)."""
        return type(self)(
            self.axiom_conn_id,
            timeout=self._overrides["timeout"],
            max_retries=self._overrides["max_retries"],
            retry_max_wait=self.retry_max_wait,
            retry_budget=self.retry_budget,
            transport=self._http_transport,
            clock=self.clock,
        )

    def settings_if_resolved(self) -> AxiomSettings | None:
        """The connection settings if the connection was already resolved (no I/O), else None."""
        return self._transport.settings if self._transport is not None else None

    def server_now(self) -> DateTime:
        """The API server's clock, as learnt from its ``Date`` headers (the local clock until then)."""
        skew = self._ctx.skew if self._ctx is not None else timedelta(0)
        return self.clock.now() + skew

    @property
    def settings(self) -> AxiomSettings:
        """The resolved connection settings (resolves the connection on first use)."""
        return self.transport().settings

    def get_conn(self) -> Any:
        """The sync ``httpx.Client`` this hook sends through (resolves the connection on first use)."""
        return self.transport().client()

    def close(self) -> None:
        """Close the sync HTTP client."""
        if self._transport is not None:
            self._transport.close()

    async def aclose(self) -> None:
        """Close the async HTTP client (and the sync one, if any)."""
        if self._transport is not None:
            await self._transport.aclose()

    def __enter__(self) -> AxiomHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> AxiomHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ plans (``_calls``), for both drivers

    def _trigger_plan(self, ctx: CallContext, name: str, data: Any) -> Plan[TriggerResult]:
        """``/trigger``'s plan, told what it needs of run identity: the spacing, and how to find a run it started."""
        return trigger_plan(ctx, name, data, self.clock.now, spacing=TRIGGER_SPACING, find_run=first_run_since)

    def _call(self, plan: Callable[[CallContext], Plan[T]]) -> T:
        """Resolve the connection, then build the plan (it needs the settings) and run it."""
        transport = self.transport()
        return transport.run(plan(self._context()))

    async def _acall(self, plan: Callable[[CallContext], Plan[T]]) -> T:
        transport = await self.atransport()
        return await transport.arun(plan(self._context()))

    def _context(self) -> CallContext:
        assert self._ctx is not None, "the connection is resolved before a plan is built"
        return self._ctx

    def _counted(self, result: TriggerResult) -> TriggerResult:
        """A trigger's result, counted in the metrics (runs started or queued; recovered after a lost answer)."""
        _metrics.run_started(self.axiom_conn_id, result.status)
        if result.recovered:
            _metrics.run_recovered(self.axiom_conn_id)
        return result

    # ------------------------------------------------------------------ public sync API

    def trigger_automation(self, name: str, data: Any = None) -> TriggerResult:
        """Start a cloud run of the automation ``name`` with optional input rows.

        ``data`` is a list of rows (2-D) or a list of tables (3-D); cells become strings. A
        ``/trigger`` whose answer may have been lost after reaching the server is re-sent only
        when run reports, watched for ``trigger_check_window`` seconds, show no run of ``name``.
        """
        return self._counted(self._call(lambda ctx: self._trigger_plan(ctx, name, data)))

    def get_run_data(self, name: str | None = None, *, run_id: str | None = None) -> RunData:
        """Status (``Running``/``Success``/``Failure``) and output of the latest run of ``name``.

        ``run_id`` (undocumented) is sent beside the name; whether the API reads it is for the caller to know.
        """
        return self._call(lambda ctx: run_data_plan(ctx, name, run_id))

    def get_run_reports(self, count: int = 5) -> list[RunReport]:
        """The most recent run reports, newest first."""
        return self._call(lambda ctx: run_reports_plan(ctx, count))

    def list_automations(self) -> list[str]:
        """Names of every automation saved to the cloud on the account."""
        return self._call(list_automations_plan)

    def get_remaining_runtime(self) -> RemainingRuntime:
        """Runtime minutes used, allowed and remaining in the billing period."""
        return self._call(remaining_runtime_plan)

    def stop_run(self, viewer_url: str | None = None, *, run_id: str | None = None) -> StopResult:
        """Stop the run behind ``viewer_url`` (``pid``/``pw`` are read from it); without one, by ``run_id``
        (undocumented). Finished runs: no-op."""
        return self._call(lambda ctx: stop_plan(ctx, viewer_url, run_id))

    def test_connection(self) -> tuple[bool, str]:
        """Check the key and URL with a read-only call (``/remaining-runtime``)."""
        try:
            runtime = self.get_remaining_runtime()
        except AxiomError as err:
            return False, str(err)
        except Exception as err:  # a broken connection definition, for instance
            key = self._transport.settings.api_key if self._transport else None
            return False, f"{type(err).__name__}: {redact(str(err), key)}"
        finally:
            self.close()
        return True, f"Connected to axiom.ai: {runtime.remaining:g} of {runtime.allowance:g} runtime minutes left"

    # ------------------------------------------------------------------ public async API

    async def atrigger_automation(self, name: str, data: Any = None) -> TriggerResult:
        """Async :meth:`trigger_automation`."""
        return self._counted(await self._acall(lambda ctx: self._trigger_plan(ctx, name, data)))

    async def aget_run_data(self, name: str | None = None, *, run_id: str | None = None) -> RunData:
        """Async :meth:`get_run_data`."""
        return await self._acall(lambda ctx: run_data_plan(ctx, name, run_id))

    async def aget_run_reports(self, count: int = 5) -> list[RunReport]:
        """Async :meth:`get_run_reports`."""
        return await self._acall(lambda ctx: run_reports_plan(ctx, count))

    async def alist_automations(self) -> list[str]:
        """Async :meth:`list_automations`."""
        return await self._acall(list_automations_plan)

    async def aget_remaining_runtime(self) -> RemainingRuntime:
        """Async :meth:`get_remaining_runtime`."""
        return await self._acall(remaining_runtime_plan)

    async def astop_run(self, viewer_url: str | None = None, *, run_id: str | None = None) -> StopResult:
        """Async :meth:`stop_run`."""
        return await self._acall(lambda ctx: stop_plan(ctx, viewer_url, run_id))

    def describe(self) -> str:
        """Where this hook points, safe to log (the key appears only as a fingerprint)."""
        settings = self.settings
        return f"axiom.ai at {settings.base_url} (key {key_fingerprint(settings.api_key)})"


def stopping_hook(axiom_conn_id: str, clock: Clock | None = None) -> AxiomHook:
    """A hook for the kill and timeout paths: few retries and a short timeout, so stopping never hangs."""
    return AxiomHook(axiom_conn_id, max_retries=2, timeout=15, clock=clock)
