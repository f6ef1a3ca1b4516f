"""The plain call: one request retried on its :class:`Backoff`, and the "did you mean" wrapper for unknown names."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from airflow_provider_axiom._calls.backoff import Backoff
from airflow_provider_axiom._calls.steps import LOG_SCOPE, CallContext, Done, Plan, Raw, Send, Sleep, Step
from airflow_provider_axiom._protocol import ApiRequest, closest_names, list_automations_request, parse_automation_names
from airflow_provider_axiom.exceptions import AxiomError, AxiomNotFoundError

log = logging.getLogger(__name__)

T = TypeVar("T")


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
            body = self.ctx.interpret(self.request, raw)
        except AxiomError as err:
            return self._retry(err)
        return Done(self.parse(body, raw))

    def failed(self, exc: httpx.HTTPError) -> Step:
        return self._retry(self.ctx.transport_error(self.request, exc))

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


def _is_unknown_name(err: AxiomNotFoundError) -> bool:
    return not err.api_message or err.api_message.lower().startswith("task not found")
