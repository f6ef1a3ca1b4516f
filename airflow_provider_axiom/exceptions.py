"""Errors raised by the axiom.ai provider, and the one table that classifies API failures.

Two families, chosen by the API's documented retry rules:

* **Retryable** errors subclass :class:`AirflowException`: the task's ``retries`` apply
  (HTTP 429, 5xx, 408, timeouts, dropped connections, non-JSON answers from a gateway, a run
  that ended in ``Failure``).
* **Permanent** errors subclass :class:`AirflowFailException`: the task fails at once, because
  retrying cannot help (400, 401, 402, 403, 404, 405, 410, 422 and any other 4xx).

Every error carries ``status_code`` (``None`` when no HTTP answer arrived), ``api_message`` (what
the API or gateway said) and ``hint`` (what to do). No error ever carries the API key: the key
is never part of what is formatted, and :func:`redact` scrubs it from any text as a last line.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_axiom._compat import AirflowException, AirflowFailException

__all__ = [
    "AxiomApiError",
    "AxiomAuthError",
    "AxiomBadRequestError",
    "AxiomBadResponseError",
    "AxiomConfigError",
    "AxiomConnectionError",
    "AxiomError",
    "AxiomNotFoundError",
    "AxiomOutputUnreadableError",
    "AxiomQuotaError",
    "AxiomRateLimitError",
    "AxiomRunAmbiguousError",
    "AxiomRunFailedError",
    "AxiomRunTimeoutError",
    "AxiomServerError",
    "AxiomTriggerUncertainError",
]


class AxiomError(Exception):
    """Base of every provider error: ``status_code``, ``api_message`` and ``hint``."""

    retryable: bool = False
    default_hint: str = ""

    def __init__(
        self,
        summary: str,
        *,
        status_code: int | None = None,
        api_message: str | None = None,
        hint: str | None = None,
        endpoint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.summary = summary
        self.status_code = status_code
        self.api_message = api_message
        self.hint = self.default_hint if hint is None else hint
        self.endpoint = endpoint
        self.retry_after = retry_after
        super().__init__(self._render())

    def _render(self) -> str:
        context = [f"POST {self.endpoint}"] if self.endpoint else []
        if self.status_code is not None:
            context.append(f"HTTP {self.status_code}")
        text = self.summary + (f" ({', '.join(context)})" if context else "")
        if self.api_message and self.api_message not in self.summary:
            text += f": {self.api_message.rstrip('. ')}"
        if self.hint:
            text += f". {self.hint}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable (Airflow may ship them between processes).
        return (_rebuild, (type(self), self.summary, self.__dict__.copy()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, api_message={self.api_message!r})"


def _rebuild(cls: type[AxiomError], summary: str, state: dict[str, Any]) -> AxiomError:
    err = cls.__new__(cls)
    Exception.__init__(err, summary)
    err.__dict__.update(state)
    err.args = (err._render(),)
    return err


# --------------------------------------------------------------------------- retryable


class AxiomRetryableError(AxiomError, AirflowException):  # type: ignore[misc]
    """A failure that may pass on its own; the task's ``retries`` apply."""

    retryable = True


class AxiomRateLimitError(AxiomRetryableError):
    """HTTP 429 or "Rate limit exceeded": over 100 calls per rolling minute for this key."""

    default_hint = (
        "The API allows 100 calls per minute per key across all endpoints; "
        "lower rate_limit_per_minute in the connection or poll less often"
    )


class AxiomServerError(AxiomRetryableError):
    """HTTP 5xx or 408: a transient problem on the axiom.ai side."""

    default_hint = "A transient server-side problem; it is retried with backoff"


class AxiomBadResponseError(AxiomServerError):
    """An answer that is not the API's JSON (an HTML page or truncated body from a gateway or proxy)."""

    default_hint = "A gateway or proxy answered instead of the API; check the connection's Base URL if it persists"


class AxiomConnectionError(AxiomRetryableError):
    """No answer: connect or read timeout, connection refused or dropped."""

    default_hint = "Check that the connection's Base URL is reachable; the call is retried with backoff"

    def __init__(self, summary: str, *, safe_to_resend: bool = False, **kwargs: Any) -> None:
        #: True when the request surely never reached the server (a connect failure).
        self.safe_to_resend = safe_to_resend
        super().__init__(summary, **kwargs)


class AxiomRunFailedError(AxiomRetryableError):
    """The run finished with ``Failure``. Retryable: the DAG's ``retries`` decide."""

    default_hint = "See the run report description and the viewer link for details"

    def __init__(
        self,
        summary: str,
        *,
        description: str | None = None,
        viewer_url: str | None = None,
        automation_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.description = description
        self.viewer_url = viewer_url
        self.automation_name = automation_name
        super().__init__(summary, **kwargs)

    def _render(self) -> str:
        text = self.summary
        if self.description:
            text += f"\nRun report:\n{self.description}"
        if self.viewer_url:  # a credential: kept on the error and in the task's "Axiom run" link, never in a log
            text += "\nViewer: the task's 'Axiom run' link"
        return text


class AxiomRunTimeoutError(AxiomRetryableError):
    """The run did not finish before the task's ``timeout`` (or ``execution_timeout``); it was asked to stop."""

    default_hint = "Raise the operator's timeout, or check the automation in the axiom.ai dashboard"


class AxiomOutputUnreadableError(AxiomRetryableError):
    """The run succeeded but ``/run-data`` kept failing, so its rows could not be read.

    Retryable: on Airflow 3.3+ the retry re-attaches to that run and reads its rows without a new run.
    """

    default_hint = (
        "The run itself succeeded; a retry reads its rows (Airflow 3.3+) or, on older Airflow, starts a new run"
    )

    @classmethod
    def after(cls, automation_name: str, err: AxiomError) -> AxiomOutputUnreadableError:
        """The error for a successful run whose output read failed with ``err``, one time too many."""
        return cls(
            f"the run of {automation_name!r} succeeded but its output could not be read: {err.summary}",
            status_code=err.status_code,
            api_message=err.api_message,
            endpoint="/run-data",
        )


# --------------------------------------------------------------------------- permanent


class AxiomPermanentError(AxiomError, AirflowFailException):  # type: ignore[misc]
    """A failure that retrying cannot fix; the task fails at once."""


class AxiomAuthError(AxiomPermanentError):
    """HTTP 401 (or "Invalid key" / "Unable to authenticate"): the API key is missing, wrong or rotated."""

    default_hint = (
        "Set the connection's API key (password field); generating a new key in the axiom.ai "
        "dashboard invalidates the old one"
    )


class AxiomQuotaError(AxiomPermanentError):
    """HTTP 403 / "Quota exceeded": the account used its cloud runtime allowance for the period."""

    default_hint = "Wait for the billing period to reset or upgrade the plan (see get_remaining_runtime())"


class AxiomNotFoundError(AxiomPermanentError):
    """HTTP 404 / "Task not found": no automation with that exact name (case and spaces matter)."""

    default_hint = "Names are case- and whitespace-sensitive; copy the name exactly from the axiom.ai dashboard"
    #: The hint of a 404 about a run (a run id, a viewer link), not a name the user gave.
    run_hint = "The API knows no such run for this key: it ended long ago, or its id or viewer link is another key's"

    def __init__(self, summary: str, *, suggestions: list[str] | None = None, **kwargs: Any) -> None:
        self.suggestions = list(suggestions or [])
        about_a_run = str(kwargs.get("api_message") or "").lower().startswith("run not found")
        if kwargs.get("hint") is None and (about_a_run or kwargs.get("endpoint") == "/stop"):
            kwargs["hint"] = self.run_hint
        super().__init__(summary, **kwargs)

    def suggest(self, names: list[str]) -> None:
        """Record the closest existing automation names and mention them in the message."""
        self.suggestions = list(names)
        self.args = (self._render(),)

    def _render(self) -> str:
        text = super()._render()
        if self.suggestions:
            text += ". Did you mean: " + ", ".join(repr(s) for s in self.suggestions) + "?"
        return text


class AxiomBadRequestError(AxiomPermanentError):
    """HTTP 400/405/410/422, or input rejected before sending: the request itself is wrong."""

    default_hint = "Fix the request; see the message for the field at fault"


class AxiomConfigError(AxiomBadRequestError):
    """The ``axiom`` connection is missing or malformed (no such connection id, no key, a bad extra)."""

    default_hint = "Fix the axiom connection (Admin > Connections, or an AIRFLOW_CONN_<ID> variable)"


class AxiomApiError(AxiomPermanentError):
    """Any other error the API reports (an unknown message or 4xx): not retried, message shown."""

    default_hint = "An error this provider does not recognise; it is not retried"


class AxiomRunAmbiguousError(AxiomPermanentError):
    """This task's run cannot be told apart from other runs of the automation started within the same
    seconds, and they ended differently, so its outcome is unknown. Not retried: a retry would start
    another run while this one may have succeeded."""

    default_hint = (
        "Run fan-out over one automation one at a time (an Airflow pool with one slot that counts deferred "
        "tasks), or use an API that returns run ids; see 'How a run is recognised' in the README"
    )


class AxiomTriggerUncertainError(AxiomPermanentError):
    """A ``/trigger`` may have started a run but its answer was lost and run reports could not confirm it.

    Not retried, because a blind re-send could start a second, billed run.
    """

    default_hint = "Check the axiom.ai dashboard for a run that started at this time; clear the task to trigger again"


# --------------------------------------------------------------------------- the table

# HTTP status -> class, as in the API's error-code table and its retry rules:
# "always retry on 429 and 5xx; never retry on 400, 401, 403, 404".
STATUS_TABLE: dict[int, type[AxiomError]] = {
    400: AxiomBadRequestError,
    401: AxiomAuthError,
    402: AxiomQuotaError,  # Payment Required: plan or billing
    403: AxiomQuotaError,  # "Your account is over its quota for the billing period"
    404: AxiomNotFoundError,
    405: AxiomBadRequestError,
    408: AxiomServerError,  # request timeout: safe to retry
    410: AxiomBadRequestError,
    422: AxiomBadRequestError,
    429: AxiomRateLimitError,
}

# Message -> class, as in the API's error-message tables (errors, /trigger, troubleshooting pages).
# Matched case-insensitively against the start of the message.
MESSAGE_TABLE: list[tuple[str, type[AxiomError]]] = [
    ("invalid key", AxiomAuthError),
    ("unable to authenticate", AxiomAuthError),
    ("you must have a pro subscription", AxiomAuthError),
    ("quota exceeded", AxiomQuotaError),
    ("task not found", AxiomNotFoundError),
    ("run not found", AxiomNotFoundError),
    ("automation not found", AxiomNotFoundError),
    ("rate limit exceeded", AxiomRateLimitError),
    ("too many requests", AxiomRateLimitError),
    ("missing task name", AxiomBadRequestError),
    ("data must be sent as an array of arrays", AxiomBadRequestError),
    ("queue full", AxiomServerError),
]

SUMMARIES: dict[type[AxiomError], str] = {
    AxiomAuthError: "axiom.ai rejected the API key",
    AxiomQuotaError: "axiom.ai quota exceeded",
    AxiomNotFoundError: "axiom.ai could not find it",
    AxiomBadRequestError: "axiom.ai rejected the request",
    AxiomRateLimitError: "axiom.ai rate limit exceeded",
    AxiomServerError: "axiom.ai server error",
    AxiomBadResponseError: "axiom.ai answered with something that is not the API's JSON",
    AxiomApiError: "axiom.ai reported an error",
}


def class_for_status(status_code: int) -> type[AxiomError] | None:
    if status_code < 400:
        return None
    if status_code in STATUS_TABLE:
        return STATUS_TABLE[status_code]
    if status_code >= 500:
        return AxiomServerError
    return AxiomApiError  # any other 4xx: permanent


def class_for_message(message: str | None) -> type[AxiomError] | None:
    if not message:
        return None
    lowered = message.strip().lower()
    for prefix, cls in MESSAGE_TABLE:
        if lowered.startswith(prefix):
            return cls
    return None
