"""The retry schedule of one call: how long to wait after a retryable failure, and when to give up."""

from __future__ import annotations

from typing import Protocol

from airflow_provider_axiom.exceptions import AxiomError, AxiomRateLimitError

#: Longest single backoff wait, and the total backoff one call may spend, in seconds.
DEFAULT_MAX_WAIT = 30.0
DEFAULT_RETRY_BUDGET = 120.0
#: Total waiting after 429s one call may spend, in seconds (429s do not use up ``max_retries``).
DEFAULT_RATE_LIMIT_PATIENCE = 600.0


class RetryPolicy(Protocol):
    """What :class:`Backoff` reads (a :class:`~airflow_provider_axiom._calls.steps.CallContext` has it all)."""

    max_retries: int
    retry_max_wait: float
    retry_budget: float
    rate_limit_patience: float

    def jitter(self) -> float: ...


class Backoff:
    """Exponential backoff with full jitter, ``Retry-After`` honoured, bounded by attempts and total wait.

    A 429 means the call was refused before doing anything, so it does not use up ``max_retries``;
    it is retried patiently, for up to ``rate_limit_patience`` seconds of waiting in all.
    """

    def __init__(self, ctx: RetryPolicy) -> None:
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
