"""Transport: the HTTP clients, the per-key rate limiter and the two drivers that run a call plan.

The drivers only send and sleep; what to send, what an answer means and how long to wait are the
plan's business (``_calls``). Time comes from one injectable :class:`Clock`, and the HTTP transport
is injectable too (``httpx.MockTransport`` serves both drivers), which makes the hook's one test seam.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from pendulum import DateTime

from airflow_provider_axiom import __version__, _metrics
from airflow_provider_axiom._calls.steps import Done, Plan, Raw, Send, Sleep
from airflow_provider_axiom._connection import AxiomSettings
from airflow_provider_axiom._protocol import retry_after, utcnow
from airflow_provider_axiom._ratelimit import limiter_for_key

T = TypeVar("T")


@dataclass(frozen=True)
class Clock:
    """Time as the provider sees it: UTC wall clock, monotonic seconds, and sync and async sleep."""

    now: Callable[[], DateTime] = field(default=utcnow)
    monotonic: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], None] = field(default=time.sleep)
    asleep: Callable[[float], Awaitable[Any]] = field(default=asyncio.sleep)

    async def asleep_until(self, when: DateTime | None) -> None:
        """Sleep until ``when`` (this clock's time); at once when it is None or past."""
        if when is not None and (seconds := (when - self.now()).total_seconds()) > 0:
            await self.asleep(seconds)


SYSTEM_CLOCK = Clock()
#: Limiter waits shorter than this are not slept (a generous rate spaces calls by microseconds).
MIN_SLEEP = 0.001


@functools.lru_cache(maxsize=1)
def _shared_ssl_context() -> ssl.SSLContext:
    """One TLS context per process: building one per client costs ~17 ms and ~0.8 MiB (CA bundle)."""
    return httpx.create_ssl_context()


def client_options(settings: AxiomSettings) -> dict[str, Any]:
    """What both clients are built with: base URL, timeouts (a short connect timeout), headers, TLS."""
    return {
        "base_url": settings.base_url + "/",
        "timeout": httpx.Timeout(settings.timeout, connect=min(settings.timeout, settings.connect_timeout)),
        "headers": {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"airflow-provider-axiom/{__version__}",
        },
        "follow_redirects": False,
        "verify": _shared_ssl_context(),
    }


class Transport:
    """Sends a hook's requests, sync or async, within the key's rate limit. Clients are made once and reused."""

    def __init__(
        self,
        settings: AxiomSettings,
        *,
        clock: Clock = SYSTEM_CLOCK,
        transport: Any = None,
        conn_id: str = "",
    ) -> None:
        self.settings = settings
        #: Names this transport's metrics (never the key).
        self.conn_id = conn_id
        self.clock = clock
        self._transport = transport
        self.limiter = limiter_for_key(settings.api_key, settings.rate_limit_per_minute, clock.monotonic)
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._reported_pace: float | None = None

    # -- the two drivers: the same loop, one blocking and one awaiting

    def run(self, plan: Plan[T]) -> T:
        """Drive ``plan`` to its result with the sync client and ``clock.sleep``."""
        step = plan.start()
        while not isinstance(step, Done):
            if isinstance(step, Sleep):
                self.clock.sleep(step.seconds)
                step = plan.slept()
                continue
            while True:  # a 429 while waiting for the slot voids it: reserve again
                generation = self.limiter.generation
                if (wait := self.limiter.reserve() or 0.0) > MIN_SLEEP:
                    self.clock.sleep(wait)
                if self.limiter.generation == generation:
                    break
            sent_at = self.clock.now()
            try:
                response = self.client().post(step.request.path, content=step.request.encode(self.settings.api_key))
            except httpx.HTTPError as exc:
                _metrics.call(self.conn_id, step.request.endpoint, "network")
                step = plan.failed(exc)
                continue
            step = plan.answered(self._raw(response, sent_at, step.request.endpoint))
        return step.value

    async def arun(self, plan: Plan[T]) -> T:
        """Drive ``plan`` to its result with the async client and ``clock.asleep``."""
        step = plan.start()
        while not isinstance(step, Done):
            if isinstance(step, Sleep):
                await self.clock.asleep(step.seconds)
                step = plan.slept()
                continue
            while True:  # a 429 while waiting for the slot voids it: reserve again
                generation = self.limiter.generation
                if (wait := self.limiter.reserve() or 0.0) > MIN_SLEEP:
                    await self.clock.asleep(wait)
                if self.limiter.generation == generation:
                    break
            sent_at = self.clock.now()
            try:
                request: Send = step
                response = await self.aclient().post(
                    request.request.path, content=request.request.encode(self.settings.api_key)
                )
            except httpx.HTTPError as exc:
                _metrics.call(self.conn_id, step.request.endpoint, "network")
                step = plan.failed(exc)
                continue
            step = plan.answered(self._raw(response, sent_at, step.request.endpoint))
        return step.value

    def _raw(self, response: httpx.Response, sent_at: DateTime, endpoint: str) -> Raw:
        if response.status_code == 429:
            self.limiter.penalize(retry_after(response.headers))
        elif response.status_code < 400:
            self.limiter.succeeded()
        _metrics.call(self.conn_id, endpoint, _metrics.outcome_of(response.status_code))
        if (pace := round(self.limiter.rate)) != self._reported_pace:  # whole calls a minute: few gauges
            self._reported_pace = pace
            _metrics.limiter_pace(self.conn_id, self.limiter.rate)
        return Raw(response.status_code, response.headers, response.content, sent_at, self.clock.now())

    # -- clients

    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(transport=self._transport, **client_options(self.settings))
        return self._client

    def aclient(self) -> httpx.AsyncClient:
        if self._aclient is None:
            self._aclient = httpx.AsyncClient(transport=self._transport, **client_options(self.settings))
        return self._aclient

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        if self._aclient is not None:
            await self._aclient.aclose()
            self._aclient = None
        self.close()
