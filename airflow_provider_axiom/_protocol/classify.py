"""Classification: which :mod:`~airflow_provider_axiom.exceptions` error an HTTP answer or a transport failure is.

Pure. The tables themselves (status -> class, message -> class) live with the classes in
``exceptions.py``; this module reads the answer (status, body, headers) and applies them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from airflow_provider_axiom._protocol.responses import NOT_JSON
from airflow_provider_axiom._time import parse_http_date, utcnow
from airflow_provider_axiom.exceptions import (
    SUMMARIES,
    AxiomApiError,
    AxiomBadResponseError,
    AxiomConnectionError,
    AxiomError,
    AxiomNotFoundError,
    AxiomRateLimitError,
    AxiomServerError,
    class_for_message,
    class_for_status,
)


def extract_error_message(body: Any) -> tuple[str | None, str | None]:
    """Return ``(message, code)`` from the error shapes APIs and gateways use, or ``(None, None)``.

    Shapes read: axiom.ai ``{"status": "error", "message"}``; ``{"kind", "message"}``;
    ``{"error", "code", "statusCode"}`` (``error`` a string or an object); GraphQL
    ``{"errors": [{"message", "extensions": {"code"}}]}``; RFC 9457 ``{"title", "detail"}``.
    """
    if not isinstance(body, Mapping):
        return None, None
    code = body.get("code") or body.get("kind")
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        first = errors[0]
        ext = first.get("extensions")
        gql_code = ext.get("code") if isinstance(ext, Mapping) else None
        return _text(first.get("message")), _text(gql_code or code)
    error = body.get("error")
    if isinstance(error, Mapping):
        return _text(error.get("message") or error.get("detail")), _text(error.get("code") or code)
    if "title" in body or "detail" in body:  # RFC 9457 problem details
        parts = [p for p in (_text(body.get("title")), _text(body.get("detail"))) if p]
        return (": ".join(parts) or None), _text(code or body.get("type"))
    message = body.get("message")
    if message is None and isinstance(error, str):
        message = error
    elif isinstance(error, str) and message is not None and error not in str(message):
        message = f"{error}: {message}"
    return _text(message), _text(code)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _is_error_body(body: Any) -> bool:
    if not isinstance(body, Mapping):
        return False
    status = body.get("status")
    if isinstance(status, str) and status.lower() in ("error", "fail", "failed"):
        return True
    return any(k in body for k in ("error", "errors")) or ("title" in body and "detail" in body)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds, from a number of seconds or an HTTP date (against the answer's ``Date``)."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when = parse_http_date(value)
    if when is None:
        return None
    now = parse_http_date(headers.get("date")) or utcnow()
    return max(0.0, (when - now).total_seconds())


def classify_response(
    status_code: int,
    body: Any,
    *,
    raw_text: str = "",
    headers: Mapping[str, str] | None = None,
    endpoint: str | None = None,
    secret: str | None = None,
) -> AxiomError | None:
    """Return the error an HTTP answer stands for, or ``None`` if it is a success.

    ``body`` is the parsed JSON, or ``_NOT_JSON`` when the body could not be parsed. The HTTP
    status is the canonical signal (as the API's docs say); the message refines the class
    when both agree on retryability, and decides alone when an error comes with HTTP 2xx.
    """
    headers = headers or {}
    not_json = body is NOT_JSON
    message, code = (None, None) if not_json else extract_error_message(body)
    if message is None and not_json and raw_text:
        message = _snippet(raw_text)
    if message is not None and secret:
        message = redact(message, secret)

    by_status = class_for_status(status_code)
    if by_status is None and not not_json and not _is_error_body(body):
        return None  # a success
    by_message = class_for_message(message)

    cls: type[AxiomError]
    if by_status is None:
        # HTTP 2xx but not JSON: a gateway page or a truncated body
        cls = AxiomBadResponseError if not_json else by_message or AxiomApiError
    elif by_message is not None and by_message.retryable == by_status.retryable:
        cls = by_message
    else:
        cls = by_status
    if not_json and cls is AxiomServerError:
        cls = AxiomBadResponseError

    hint = None
    if cls is AxiomNotFoundError and not_json:
        hint = "The URL answered 404 with no API error: check the connection's Base URL (it should end in /api/v3)"
    if code and message and code not in message:
        message = f"{message} (code {code})"
    return cls(
        SUMMARIES.get(cls, "axiom.ai error"),
        status_code=status_code,
        api_message=message,
        hint=hint,
        endpoint=endpoint,
        retry_after=retry_after(headers),
    )


def _snippet(text: str, limit: int = 200) -> str:
    text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


# Transport failures. "safe_to_resend" is False when the request may have reached the server.
_TRANSPORT_TABLE: list[tuple[type[Exception], str, bool]] = [
    (httpx.ConnectTimeout, "timed out connecting to axiom.ai", True),
    (httpx.ConnectError, "could not connect to axiom.ai", True),
    (httpx.PoolTimeout, "timed out waiting for a free connection", True),
    (httpx.ReadTimeout, "timed out waiting for axiom.ai to answer", False),
    (httpx.WriteTimeout, "timed out sending the request", False),
    (httpx.RemoteProtocolError, "the connection was dropped before a full answer", False),
    (httpx.ReadError, "the connection was dropped while reading the answer", False),
    (httpx.WriteError, "the connection was dropped while sending", False),
    (httpx.TransportError, "network error talking to axiom.ai", False),
]


def classify_transport_error(
    exc: Exception, *, endpoint: str | None = None, base_url: str | None = None
) -> AxiomConnectionError:
    """Map an httpx transport exception to :class:`AxiomConnectionError`, naming the base URL tried.

    ``err.safe_to_resend`` tells whether the request surely never reached the server (connect
    failures, DNS and TLS errors included), which matters for ``/trigger``: anything else may have
    started a run.
    """
    where = f" at {base_url}" if base_url else ""
    detail = type(exc).__name__ + (f": {exc}" if str(exc) else "")
    for exc_type, summary, safe in _TRANSPORT_TABLE:
        if isinstance(exc, exc_type):
            hint = (
                f"Check that the connection's Base URL {base_url} is right and reachable (DNS, proxy, TLS); "
                "the call is retried with backoff"
                if safe and base_url
                else None
            )
            return AxiomConnectionError(
                summary.replace("axiom.ai", f"axiom.ai{where}", 1) if "axiom.ai" in summary else summary + where,
                api_message=detail,
                endpoint=endpoint,
                safe_to_resend=safe,
                hint=hint,
            )
    return AxiomConnectionError(f"network error talking to axiom.ai{where}", api_message=detail, endpoint=endpoint)


def safe_to_resend(err: AxiomError) -> bool:
    """True when a failed call surely did not reach the API (so a re-send cannot duplicate work)."""
    if isinstance(err, AxiomConnectionError):
        return err.safe_to_resend
    # "The automation does not run" on a 429 (rate-limit page)
    return isinstance(err, AxiomRateLimitError)


def redact(text: str, secret: str | None) -> str:
    """Replace every occurrence of ``secret`` in ``text``."""
    if secret and len(secret) >= 4:
        return text.replace(secret, "***")
    return text
