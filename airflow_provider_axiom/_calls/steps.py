"""The words between a call's plan and the driver that performs it: steps, what came back, the plan's interface.

Also what every plan shares: the :class:`CallContext` the hook hands it (where to, which key, the
retry policy, the server clock), which also reads an answer: its body or its classified error.
"""

from __future__ import annotations

import contextvars
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx
from pendulum import DateTime

from airflow_provider_axiom._calls.backoff import DEFAULT_MAX_WAIT, DEFAULT_RATE_LIMIT_PATIENCE, DEFAULT_RETRY_BUDGET
from airflow_provider_axiom._protocol import (
    NOT_JSON,
    ApiRequest,
    classify_response,
    classify_transport_error,
    parse_http_date,
    parse_json,
)
from airflow_provider_axiom.exceptions import AxiomError

if TYPE_CHECKING:
    from airflow_provider_axiom._connection import AxiomSettings

#: What the calls made in this context concern, when not the task that logs them: the shared
#: poller's task sets it to its key (see ``_completion.notices``), and retry lines say so.
LOG_SCOPE: contextvars.ContextVar[str] = contextvars.ContextVar("axiom_log_scope", default="")

T = TypeVar("T")


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
    rate_limit_patience: float = DEFAULT_RATE_LIMIT_PATIENCE
    skew: timedelta = timedelta(0)  # server clock minus local clock, learnt from Date headers
    jitter: Callable[[], float] = random.random

    @classmethod
    def of(cls, settings: AxiomSettings, *, retry_max_wait: float, retry_budget: float) -> CallContext:
        """The context of a hook's calls: its connection's settings and its retry policy."""
        return cls(
            base_url=settings.base_url,
            api_key=settings.api_key,
            max_retries=settings.max_retries,
            trigger_check_window=settings.trigger_check_window,
            retry_max_wait=retry_max_wait,
            retry_budget=retry_budget,
        )

    def learn_clock(self, raw: Raw) -> None:
        server = parse_http_date(raw.headers.get("date"))
        if server is not None:
            self.skew = server - raw.received_at

    def interpret(self, request: ApiRequest, raw: Raw) -> Any:
        """The answer's JSON body, or raise the classified error it stands for."""
        self.learn_clock(raw)
        body = parse_json(raw.content)
        if body is NOT_JSON and request.allow_empty_body and 200 <= raw.status_code < 300:
            body = {}
        error = classify_response(
            raw.status_code,
            body,
            raw_text=raw.content[:2000].decode("utf-8", "replace") if body is NOT_JSON else "",
            headers=raw.headers,
            endpoint=request.endpoint,
            secret=self.api_key,
        )
        if error is not None:
            raise error
        return body

    def transport_error(self, request: ApiRequest, exc: httpx.HTTPError) -> AxiomError:
        """The classified error for a request that got no answer."""
        return classify_transport_error(exc, endpoint=request.endpoint, base_url=self.base_url)


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
