"""The error table, row by row: HTTP status x message x body shape -> class and retryability."""

from __future__ import annotations

import pickle

import httpx
import pytest

from airflow_provider_axiom._compat import AirflowException, AirflowFailException
from airflow_provider_axiom._protocol import (
    NOT_JSON,
    classify_response,
    classify_transport_error,
    extract_error_message,
    safe_to_resend,
)
from airflow_provider_axiom.exceptions import (
    AxiomApiError,
    AxiomAuthError,
    AxiomBadRequestError,
    AxiomBadResponseError,
    AxiomConnectionError,
    AxiomNotFoundError,
    AxiomQuotaError,
    AxiomRateLimitError,
    AxiomRunFailedError,
    AxiomServerError,
)


def axiom_error(message: str) -> dict[str, str]:
    return {"status": "error", "message": message}


# (HTTP status, body, expected class) -- the documented messages with their documented codes,
# the same messages with HTTP 200, and status codes with no message.
ROWS = [
    # DH-errors table
    (401, axiom_error("Invalid key"), AxiomAuthError),
    (403, axiom_error("Quota exceeded"), AxiomQuotaError),
    (404, axiom_error("Task not found, please check the name and try again."), AxiomNotFoundError),
    (429, axiom_error("Rate limit exceeded. Try again in a few seconds."), AxiomRateLimitError),
    (404, axiom_error("Run not found"), AxiomNotFoundError),
    # DH-trouble messages (no codes documented) with plausible codes
    (401, axiom_error("Unable to authenticate, you must send an API key."), AxiomAuthError),
    (403, axiom_error("Unable to authenticate, you must send an API key."), AxiomAuthError),  # vendor v4 contract
    (401, axiom_error("Unable to authenticate, please check your API key and try again."), AxiomAuthError),
    (
        400,
        axiom_error("Missing task name, you must send the name of the task that you wish to trigger."),
        AxiomBadRequestError,
    ),
    (400, axiom_error("Data must be sent as an array of arrays."), AxiomBadRequestError),
    # the same messages with HTTP 200 (an open question in the docs): the message decides
    (200, axiom_error("Invalid key"), AxiomAuthError),
    (200, axiom_error("Quota exceeded"), AxiomQuotaError),
    (200, axiom_error("Task not found, please check the name and try again."), AxiomNotFoundError),
    (200, axiom_error("Rate limit exceeded. Try again in a few seconds."), AxiomRateLimitError),
    (
        200,
        axiom_error("Missing task name, you must send the name of the task that you wish to trigger."),
        AxiomBadRequestError,
    ),
    (200, axiom_error("Data must be sent as an array of arrays."), AxiomBadRequestError),
    (200, axiom_error("Something nobody documented"), AxiomApiError),
    # status codes alone
    (400, {}, AxiomBadRequestError),
    (401, {}, AxiomAuthError),
    (402, {}, AxiomQuotaError),
    (403, {}, AxiomQuotaError),
    (404, {}, AxiomNotFoundError),
    (405, {}, AxiomBadRequestError),
    (408, {}, AxiomServerError),
    (410, {}, AxiomBadRequestError),
    (418, {}, AxiomApiError),
    (422, {}, AxiomBadRequestError),
    (429, {}, AxiomRateLimitError),
    (500, {}, AxiomServerError),
    (502, {}, AxiomServerError),
    (503, axiom_error("queue full"), AxiomServerError),
    (504, {}, AxiomServerError),
    # status is canonical when message and status disagree on retryability
    (400, axiom_error("Rate limit exceeded. Try again in a few seconds."), AxiomBadRequestError),
    (500, axiom_error("Invalid key"), AxiomServerError),
    # other shapes from gateways and other APIs
    (401, {"kind": "Unauthorized", "message": "Invalid key"}, AxiomAuthError),
    (429, {"error": "Too Many Requests", "code": "RATE_LIMITED", "statusCode": 429}, AxiomRateLimitError),
    (200, {"errors": [{"message": "Quota exceeded", "extensions": {"code": "QUOTA"}}]}, AxiomQuotaError),
    (404, {"type": "about:blank", "title": "Not Found", "detail": "no such route"}, AxiomNotFoundError),
    (200, {"error": {"message": "Invalid key", "code": "auth"}}, AxiomAuthError),
]


@pytest.mark.parametrize(("status", "body", "expected"), ROWS)
def test_classification_table(status, body, expected):
    err = classify_response(status, body, endpoint="/trigger")
    assert type(err) is expected
    assert err.status_code == status
    assert err.endpoint == "/trigger"
    retryable = issubclass(expected, (AxiomRateLimitError, AxiomServerError))
    assert err.retryable is retryable
    # retryable errors let the task's retries apply; permanent ones fail the task at once
    assert isinstance(err, AirflowException)
    assert isinstance(err, AirflowFailException) is (not retryable)


@pytest.mark.parametrize(
    "body",
    [
        {"OPEN LINK IN BROWSER": "https://vnc.axiom.ai/x"},
        {"status": "queued", "message": "queued"},
        {"status": "success", "data": {"names": []}},
        {"status": "Running", "data": {}},
        {"status": "Failure", "data": {}},  # a failed run is not a failed call
    ],
)
def test_successes_are_not_errors(body):
    assert classify_response(200, body) is None


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        (200, "<html><body>502 Bad Gateway</body></html>", AxiomBadResponseError),
        (502, "<html><body>Bad Gateway</body></html>", AxiomBadResponseError),
        (200, '{"status": "succ', AxiomBadResponseError),  # truncated JSON
        (404, "<html>Not Found</html>", AxiomNotFoundError),
        (401, "Unauthorized", AxiomAuthError),
    ],
)
def test_non_json_bodies(status, text, expected):
    err = classify_response(status, NOT_JSON, raw_text=text)
    assert type(err) is expected
    assert err.api_message and "<" not in err.api_message  # tags stripped, text kept
    if expected is AxiomBadResponseError:
        assert err.retryable


def test_404_without_api_error_points_at_the_base_url():
    err = classify_response(404, NOT_JSON, raw_text="<html>Not Found</html>")
    assert "Base URL" in str(err)


def test_every_error_explains_what_to_do():
    for status, body, _ in ROWS:
        err = classify_response(status, body)
        assert err.hint, (status, body)
        assert err.hint in str(err)


def test_retry_after_header_is_read():
    err = classify_response(429, axiom_error("Rate limit exceeded."), headers=httpx.Headers({"Retry-After": "7"}))
    assert err.retry_after == 7.0


def test_message_shapes():
    assert extract_error_message({"status": "error", "message": "m"}) == ("m", None)
    assert extract_error_message({"kind": "K", "message": "m"}) == ("m", "K")
    assert extract_error_message({"error": "Bad", "code": "X", "statusCode": 400}) == ("Bad", "X")
    assert extract_error_message({"errors": [{"message": "m", "extensions": {"code": "C"}}]}) == ("m", "C")
    assert extract_error_message({"title": "T", "detail": "D"}) == ("T: D", None)
    assert extract_error_message(["not", "a", "mapping"]) == (None, None)


def test_secret_is_scrubbed_from_the_api_message():
    err = classify_response(401, axiom_error("Invalid key sk-live-123456"), secret="sk-live-123456")
    assert "sk-live-123456" not in str(err)
    assert "sk-live-123456" not in repr(err)


@pytest.mark.parametrize(
    ("exc", "safe"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ConnectTimeout("slow"), True),
        (httpx.PoolTimeout("busy"), True),
        (httpx.ReadTimeout("slow"), False),
        (httpx.RemoteProtocolError("dropped"), False),
        (httpx.ReadError("reset"), False),
        (httpx.WriteTimeout("slow"), False),
    ],
)
def test_transport_errors_are_retryable_and_know_whether_a_resend_is_safe(exc, safe):
    err = classify_transport_error(exc, endpoint="/trigger")
    assert isinstance(err, AxiomConnectionError)
    assert err.retryable
    assert err.status_code is None
    assert safe_to_resend(err) is safe


def test_rate_limit_is_safe_to_resend_but_5xx_is_not():
    assert safe_to_resend(classify_response(429, {}))
    assert not safe_to_resend(classify_response(502, {}))


def test_errors_survive_pickling():
    err = classify_response(404, axiom_error("Task not found, please check the name and try again."))
    err.suggest(["Export leads"])
    assert "Did you mean: 'Export leads'?" in str(err)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is AxiomNotFoundError
    assert copy.status_code == 404
    assert copy.suggestions == ["Export leads"]
    assert str(copy) == str(err)


def test_run_failed_error_shows_report_and_link():
    err = AxiomRunFailedError(
        "run failed", description="Axiom run failed: selector #buy not found", viewer_url="https://vnc.axiom.ai/v"
    )
    assert err.retryable and not isinstance(err, AirflowFailException)
    assert "selector #buy not found" in str(err)
    # the link is a credential: kept on the error (and in the task's extra link), never in its message
    assert "https://vnc.axiom.ai/v" not in str(err) and err.viewer_url == "https://vnc.axiom.ai/v"


def test_a_404_about_a_run_never_says_check_the_name():
    """A run id or viewer link the API does not know is not a name the user got wrong."""
    run = classify_response(404, axiom_error("Run not found"), endpoint="/run-data")
    stop = classify_response(404, axiom_error("Not found"), endpoint="/stop")
    name = classify_response(404, axiom_error("Task not found, please check the name and try again."))
    for err in (run, stop):
        assert isinstance(err, AxiomNotFoundError) and "name" not in err.hint and "no such run" in str(err)
    assert "case- and whitespace-sensitive" in str(name)
