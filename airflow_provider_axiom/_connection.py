"""Connection settings: what an ``axiom`` Airflow connection resolves to, and its form in the UI.

Imports nothing of Airflow's at module level: provider info (``get_provider_info``) reads it while
Airflow is still discovering providers. The form is declared once, in provider info (read by Airflow 3.2+); the hook's
``get_ui_field_behaviour``/``get_connection_form_widgets`` hand the same declaration to the UI
of Airflow 3.0 and 3.1, which only reads those methods.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from airflow_provider_axiom.exceptions import AxiomConfigError

#: Seconds to wait for each answer (the connection's ``timeout``).
DEFAULT_TIMEOUT = 30.0
#: Seconds after a trigger its run may still appear in run reports (``trigger_check_window``).
DEFAULT_TRIGGER_CHECK_WINDOW = 10.0
#: Seconds an automation must be idle before a queued trigger's run is surely among those seen
#: (``queue_idle_window``): the docs say a queued run is retried every five minutes and starts within ten.
DEFAULT_QUEUE_IDLE_WINDOW = 600.0

#: The public API, used when the connection has no host.
DEFAULT_BASE_URL = "https://lar.axiom.ai/api/v3"

#: name -> (default, smallest allowed, type, label, description): the connection's extras.
EXTRAS: dict[str, tuple[float, float, type, str, str]] = {
    "timeout": (DEFAULT_TIMEOUT, 1, float, "Request timeout (seconds)", "Timeout for reading each answer. Default 30."),
    "connect_timeout": (
        5.0,
        0.1,
        float,
        "Connect timeout (seconds)",
        "Timeout for opening a connection; an unreachable host fails fast. Default 5.",
    ),
    "max_retries": (5, 0, int, "Max retries", "Retries of a failed call within one hook call. Default 5."),
    "rate_limit_per_minute": (
        100,
        1,
        int,
        "Rate limit (calls per minute)",
        "Calls per minute this key may make from one process; set each process's share when several "
        "workers or triggerers use the key. Default 100.",
    ),
    "trigger_check_window": (
        DEFAULT_TRIGGER_CHECK_WINDOW,
        0,
        float,
        "Lost-trigger check window (seconds)",
        "After a /trigger whose answer was lost, how long run reports are watched for the run before "
        "re-sending. Default 10. Also how long after a trigger its run may still appear in run reports.",
    ),
    "queue_idle_window": (
        DEFAULT_QUEUE_IDLE_WINDOW,
        0,
        float,
        "Queue idle window (seconds)",
        "A queued trigger without a run id is matched to its run once the automation has been idle this "
        "long (the API starts a queued run within ten minutes). Default 600.",
    ),
    "concurrent_runs": (
        0,
        0,
        int,
        "Concurrent runs (plan limit)",
        "How many cloud runs the account's plan runs at once (Starter and Pro 1, Pro Max 2, Ultimate 20): "
        "a trigger is held while that many runs are going, so that it starts at once instead of being "
        "queued. Default 0: not set (only a running automation holds its own triggers).",
    ),
}


@dataclass(frozen=True)
class AxiomSettings:
    """What the ``axiom`` connection resolves to. The key is excluded from ``repr``."""

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = 5.0
    max_retries: int = 5
    rate_limit_per_minute: int = 100
    trigger_check_window: float = DEFAULT_TRIGGER_CHECK_WINDOW
    queue_idle_window: float = DEFAULT_QUEUE_IDLE_WINDOW
    concurrent_runs: int = 0

    def with_overrides(self, **changes: Any) -> AxiomSettings:
        """A copy with the given fields replaced (``None`` values are ignored)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **changes) if changes else self


def build_base_url(host: str | None, port: int | None = None, schema: str | None = None) -> str:
    """Base URL from a connection's host/port/schema; an empty host means the public API.

    ``host`` may be a full URL (``http://127.0.0.1:8099/api/v3``) or a bare host name (HTTPS is
    assumed). A URL without a path gets ``/api/v3``.
    """
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        host = f"https://{host}"
    try:
        url = httpx.URL(host)
    except httpx.InvalidURL as err:
        raise _config_error(f"the connection's Base URL {host!r} is not a URL: {err}") from None
    if port and url.port is None:
        url = url.copy_with(port=port)
    path = url.path.rstrip("/")
    if not path:
        path = "/" + schema.strip("/") if schema and schema.strip("/") else "/api/v3"
    return str(url.copy_with(path=path, query=None, fragment=None)).rstrip("/")


def _extra(extra: dict[str, Any], name: str) -> Any:
    default, minimum, kind, _, _ = EXTRAS[name]
    value = extra.get(name)
    if value in (None, ""):
        return kind(default)
    try:
        number = kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError):
        raise _config_error(f"connection extra {name!r} must be a number, got {value!r}") from None
    if number < minimum:
        raise _config_error(f"connection extra {name!r} is out of range: {value!r} (at least {minimum:g})")
    return number


def connection_extras(conn: Any) -> dict[str, Any]:
    """The connection's extra, parsed here rather than through ``extra_dejson``.

    Airflow's ``extra_dejson`` registers every extra value as a secret to mask; these extras are
    timeouts and counts, not secrets, and their short text (``"30"``) only earned each task and
    trigger log a "Skipping masking for a secret as it's too short" warning. Parsing the JSON is
    pure (no supervisor call), so the async path needs nothing else. The key itself (the
    password) is masked by Airflow as any connection's password.
    """
    raw = getattr(conn, "extra", None)
    if not raw:
        return {}
    if isinstance(raw, dict):
        return dict(raw)
    try:
        value = json.loads(raw)
    except ValueError:
        raise _config_error(f"connection {conn.conn_id!r} has an extra that is not JSON") from None
    if not isinstance(value, dict):
        raise _config_error(f"connection {conn.conn_id!r} has an extra that is not a JSON object")
    return value


def settings_from_connection(conn: Any, extra: dict[str, Any]) -> AxiomSettings:
    """Resolve an Airflow connection (and its parsed extra) to :class:`AxiomSettings`."""
    api_key = (conn.password or "").strip()
    if not api_key:
        raise _config_error(
            f"connection {conn.conn_id!r} has no API key",
            hint="Put the axiom.ai API key in the connection's password field",
        )
    return AxiomSettings(
        api_key=api_key,
        base_url=build_base_url(conn.host, conn.port, conn.schema),
        **{name: _extra(extra, name) for name in EXTRAS},
    )


def _config_error(summary: str, **kwargs: Any) -> AxiomConfigError:
    from airflow_provider_axiom.exceptions import AxiomConfigError

    return AxiomConfigError(summary, **kwargs)


def missing_connection(conn_id: str) -> AxiomConfigError:
    """The permanent error for a connection id that does not exist (Airflow's own error is retryable)."""
    return _config_error(
        f"the axiom connection {conn_id!r} does not exist",
        hint=(
            f"Create it: airflow connections add {conn_id} --conn-type axiom --conn-password <API key>, "
            f"or set AIRFLOW_CONN_{conn_id.upper()}, or pass another axiom_conn_id"
        ),
    )


def ui_field_behaviour(provider_info: dict[str, Any]) -> dict[str, Any]:
    """``get_ui_field_behaviour`` for Airflow < 3.2, from provider info's ``ui-field-behaviour``."""
    form = _form(provider_info)["ui-field-behaviour"]
    return {
        "hidden_fields": form["hidden-fields"],
        "relabeling": form["relabeling"],
        "placeholders": form["placeholders"],
    }


def connection_form_widgets(provider_info: dict[str, Any]) -> dict[str, Any]:
    """``get_connection_form_widgets`` for Airflow < 3.2, from provider info's ``conn-fields``."""
    from wtforms import StringField  # only imported by the UI of Airflow < 3.2, which brings wtforms

    return {
        name: StringField(spec["label"], description=spec["description"])
        for name, spec in _form(provider_info)["conn-fields"].items()
    }


def conn_fields() -> dict[str, Any]:
    """Provider info's ``conn-fields``: one entry per extra, built from :data:`EXTRAS`."""
    return {
        name: {
            "label": label,
            "description": description,
            "schema": {"type": ["integer" if kind is int else "number", "null"], "minimum": minimum},
        }
        for name, (_, minimum, kind, label, description) in EXTRAS.items()
    }


def _form(provider_info: dict[str, Any]) -> dict[str, Any]:
    return dict(provider_info["connection-types"][0])
