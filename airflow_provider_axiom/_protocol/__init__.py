"""The axiom.ai v3 protocol, pure: request building, response parsing, classification and time parsing.

Nothing in this package does I/O. The transports in ``_transport`` send what it builds and hand
back what the API answered; the rules that decide what an answer means live here, once.
"""

from __future__ import annotations

from airflow_provider_axiom._protocol.classify import (
    classify_response,
    classify_transport_error,
    extract_error_message,
    redact,
    retry_after,
    safe_to_resend,
)
from airflow_provider_axiom._protocol.requests import (
    MASK,
    VIEWER_LINK_KEY,
    ApiRequest,
    ViewerCredentials,
    list_automations_request,
    normalize_data,
    parse_viewer_url,
    remaining_runtime_request,
    run_data_request,
    run_reports_request,
    stop_request,
    stop_target,
    trigger_request,
    validate_name,
    viewer_link_masked,
    viewer_password,
    whole_link,
)
from airflow_provider_axiom._protocol.responses import (
    DOCUMENTED_STATUSES,
    NOT_JSON,
    closest_names,
    parse_automation_names,
    parse_json,
    parse_remaining_runtime,
    parse_run_data,
    parse_run_reports,
    parse_stop,
    parse_trigger,
    run_state,
    says_finished,
)
from airflow_provider_axiom._time import iso, parse_http_date, parse_timestamp, to_datetime, utcnow

__all__ = [
    "DOCUMENTED_STATUSES",
    "MASK",
    "NOT_JSON",
    "VIEWER_LINK_KEY",
    "ApiRequest",
    "ViewerCredentials",
    "classify_response",
    "classify_transport_error",
    "closest_names",
    "extract_error_message",
    "iso",
    "list_automations_request",
    "normalize_data",
    "parse_automation_names",
    "parse_http_date",
    "parse_json",
    "parse_remaining_runtime",
    "parse_run_data",
    "parse_run_reports",
    "parse_stop",
    "parse_timestamp",
    "parse_trigger",
    "parse_viewer_url",
    "redact",
    "remaining_runtime_request",
    "retry_after",
    "run_data_request",
    "run_reports_request",
    "run_state",
    "safe_to_resend",
    "says_finished",
    "stop_request",
    "stop_target",
    "to_datetime",
    "trigger_request",
    "utcnow",
    "validate_name",
    "viewer_link_masked",
    "viewer_password",
    "whole_link",
]
