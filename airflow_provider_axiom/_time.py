"""One timestamp parser for everything the provider reads: API timestamps, HTTP dates and user input.

The lowest room: it imports nothing of the provider, so ``results`` and ``_protocol`` both read time here.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import pendulum
from pendulum import DateTime


def utcnow() -> DateTime:
    """Now, in UTC (the default clock; tests inject their own through the hook's ``clock``)."""
    return pendulum.now("UTC")


def iso(value: Any) -> str | None:
    """ISO 8601 text for a datetime; strings and None pass through."""
    if value is None or isinstance(value, str):
        return value
    return str(value.isoformat())


@functools.lru_cache(maxsize=8192)
def _parse_iso(text: str) -> DateTime | None:
    # Cached: every poll re-reads mostly the same reports. Stdlib fast path for the documented format.
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return pendulum.instance(parsed).in_timezone("UTC")
    except ValueError:
        pass
    try:
        slow = pendulum.parse(text)
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        return None
    return slow.in_timezone("UTC") if isinstance(slow, DateTime) else None


def parse_timestamp(value: Any) -> DateTime | None:
    """A UTC DateTime from an ISO 8601 timestamp (``2025-04-10T15:14:51.000000Z``); None if empty or unreadable."""
    if value in (None, ""):
        return None
    return _parse_iso(str(value).strip())


def parse_http_date(value: str | None) -> DateTime | None:
    """A UTC DateTime from an HTTP date (``Date``, ``Retry-After``); None if absent or unreadable."""
    if not value:
        return None
    try:
        return pendulum.instance(parsedate_to_datetime(value)).in_timezone("UTC")
    except (TypeError, ValueError, IndexError):
        return None


def to_datetime(value: Any, field_name: str = "timestamp") -> DateTime:
    """A UTC DateTime from what a user passed (datetime or ISO 8601 text); ValueError naming the field."""
    if isinstance(value, DateTime):
        return value.in_timezone("UTC")
    if isinstance(value, datetime):
        return pendulum.instance(value).in_timezone("UTC")
    if isinstance(value, str) and value.strip():
        parsed = parse_timestamp(value)
        if parsed is None:
            raise ValueError(f"{field_name}: {value!r} is not an ISO 8601 date and time")
        return parsed
    raise ValueError(f"{field_name}: expected a datetime or ISO 8601 string, got {type(value).__name__}")
