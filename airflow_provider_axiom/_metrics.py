"""Metrics through Airflow's own channel (``Stats``): StatsD, DogStatsD or OpenTelemetry, as ``[metrics]`` says.

Nothing here opens a socket of its own, and nothing is sent when ``[metrics]`` turns metrics off
(Airflow's no-op logger). Every metric carries the connection id, never the key: as tags
(``conn_id`` and the metric's own, for backends that keep tags: DogStatsD, StatsD with InfluxDB
tags, OpenTelemetry) or, on plain StatsD, which drops tags, in the name, the way Airflow names
its own per-pool and per-task metrics: ``axiom.calls.<conn_id>.<endpoint>.<outcome>``. A name
Airflow's validation would reject (characters, length) is dropped here, quietly; Airflow's
``metrics_allow_list`` / ``metrics_block_list`` apply as to any metric.

Airflow is imported lazily, on the first metric, and a failing backend never fails a call.
The README's "Monitoring" section lists every metric.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from typing import Any

from pendulum import DateTime

log = logging.getLogger(__name__)

#: Prefix of every metric name (Airflow adds ``[metrics] statsd_prefix``, "airflow", before it).
PREFIX = "axiom"
#: What Airflow's StatsD name check allows (``stat_name_default_handler``); OpenTelemetry allows
#: 255 characters with the prefix, StatsD 250 without: the stricter of the two.
_VALID = re.compile(r"^[A-Za-z0-9_.-]+$")
_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
MAX_NAME = 250

#: Call outcomes, by HTTP status (the API's errors sent with HTTP 200 count as ``ok`` here).
OUTCOMES = ("ok", "429", "4xx", "5xx", "network")

_lock = threading.Lock()
_backend: Any = None  # Airflow's Stats, once resolved; False when there is none
_tagged: bool | None = None  # whether the backend keeps tags (then names carry no variables)


def _stats() -> Any:
    """Airflow's ``Stats`` for this version, initialised if this process has not yet (False: none)."""
    global _backend, _tagged
    if _backend is not None:
        return _backend
    with _lock:
        if _backend is not None:
            return _backend
        try:
            _backend, _tagged = _resolve()
        except Exception as err:  # metrics are never worth a failed task
            log.debug("axiom.ai metrics disabled: %s", err)
            _backend, _tagged = False, False
        return _backend


def _resolve() -> tuple[Any, bool]:
    from airflow.providers.common.compat.sdk import conf

    tagged = (
        conf.getboolean("metrics", "statsd_datadog_enabled", fallback=False)
        or conf.getboolean("metrics", "statsd_influxdb_enabled", fallback=False)
        or conf.getboolean("metrics", "otel_on", fallback=False)
    )
    try:
        from airflow.sdk.observability import stats as module  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Airflow 3.0/3.1: Stats reads [metrics] itself on first use
        from airflow.stats import Stats  # type: ignore[attr-defined,unused-ignore]

        return Stats, tagged
    # Airflow 3.2+: each Airflow process sets the backend up when it starts; a bare dag.test()
    # in a test or a script may not have, and would then send nothing.
    from airflow.sdk.observability.metrics import stats_utils  # type: ignore[import-not-found,unused-ignore]

    if hasattr(module, "initialize"):  # 3.3: module-level functions
        impl = sys.modules[module.initialize.__module__]
        if getattr(impl, "_factory", True) is None:
            module.initialize(
                factory=stats_utils.get_stats_factory(),
                export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=True),
            )
    elif getattr(module.Stats, "factory", True) is None:  # 3.2: a class with a factory
        factory = stats_utils.get_stats_factory(module.Stats)  # type: ignore[call-arg,unused-ignore]
        module.Stats.initialize(factory=factory)  # type: ignore[call-arg,unused-ignore]
    return module.Stats, tagged


def segment(value: Any) -> str:
    """A tag value as one segment of a StatsD name: dots become ``__`` (as Airflow does), other odd characters ``_``."""
    return _INVALID_CHARS.sub("_", str(value).replace(".", "__")) or "_"


def metric_name(name: str, conn_id: str, tags: dict[str, Any], *, tagged: bool) -> str | None:
    """The name sent: ``axiom.<name>`` for tag-keeping backends, else with the variables in it; None if invalid."""
    full = f"{PREFIX}.{name}"
    if not tagged:
        full = ".".join([full, segment(conn_id), *(segment(v) for v in tags.values())])
    if len(full) > MAX_NAME or not _VALID.match(full):
        return None
    return full


def _emit(kind: str, name: str, value: float, conn_id: str, tags: dict[str, Any]) -> None:
    stats = _stats()
    if not stats:
        return
    full = metric_name(name, conn_id, tags, tagged=bool(_tagged))
    if full is None:
        log.debug("axiom.ai metric %r for %r not sent: not a valid metric name", name, conn_id)
        return
    all_tags = {"conn_id": conn_id, **{k: str(v) for k, v in tags.items()}}
    try:
        if kind == "incr":
            stats.incr(full, count=int(value), tags=all_tags)
        elif kind == "gauge":
            stats.gauge(full, value, tags=all_tags)
        else:
            stats.timing(full, value, tags=all_tags)
    except Exception as err:  # a broken backend must not break a call
        log.debug("axiom.ai metric %s not sent: %s", full, err)


# -- the typed API


def incr(name: str, conn_id: str, count: int = 1, **tags: Any) -> None:
    """Add ``count`` to the counter ``axiom.<name>`` of ``conn_id``."""
    _emit("incr", name, count, conn_id, tags)


def gauge(name: str, conn_id: str, value: float, **tags: Any) -> None:
    """Set the gauge ``axiom.<name>`` of ``conn_id``."""
    _emit("gauge", name, value, conn_id, tags)


def timing(name: str, conn_id: str, milliseconds: float, **tags: Any) -> None:
    """Record ``milliseconds`` on the timer ``axiom.<name>`` of ``conn_id`` (negative values are dropped)."""
    if milliseconds >= 0:
        _emit("timing", name, milliseconds, conn_id, tags)


def _ms(start: DateTime | None, end: DateTime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() * 1000.0


# -- what each part of the provider emits (one function per metric, so names live here only)


def call(conn_id: str, endpoint: str, outcome: str) -> None:
    """One HTTP call: ``axiom.calls`` by ``endpoint`` and ``outcome`` (:data:`OUTCOMES`)."""
    incr("calls", conn_id, endpoint=endpoint.strip("/"), outcome=outcome)


def outcome_of(status_code: int | None) -> str:
    """A call's outcome from its HTTP status (None: no answer arrived)."""
    if status_code is None:
        return "network"
    if status_code == 429:
        return "429"
    if status_code >= 500:
        return "5xx"
    return "4xx" if status_code >= 400 else "ok"


def run_started(conn_id: str, status: str) -> None:
    """A ``/trigger`` went through: ``axiom.runs_started`` by ``status`` (started or queued)."""
    incr("runs_started", conn_id, status=status)


def run_recovered(conn_id: str) -> None:
    """A run found in run reports after its ``/trigger`` answer was lost: ``axiom.runs_recovered``."""
    incr("runs_recovered", conn_id)


def run_reattached(conn_id: str) -> None:
    """A retry carried on with the run an earlier attempt started: ``axiom.runs_reattached``."""
    incr("runs_reattached", conn_id)


def output_read_failed(conn_id: str) -> None:
    """A finished run's output could not be read (``data`` is None): ``axiom.output_read_failed``."""
    incr("output_read_failed", conn_id)


def limiter_pace(conn_id: str, calls_per_minute: float) -> None:
    """The key's current pace in this process, calls a minute: ``axiom.limiter_pace``."""
    gauge("limiter_pace", conn_id, round(calls_per_minute, 1))


def runs_waited(conn_id: str, count: int) -> None:
    """Runs a poller is waiting for: ``axiom.runs_waited``."""
    gauge("runs_waited", conn_id, count)


def watchers(conn_id: str, count: int) -> None:
    """Event watchers (triggers) registered with a poller: ``axiom.watchers``."""
    gauge("watchers", conn_id, count)


def event_delay(conn_id: str, finished_at: DateTime | None, seen_at: DateTime | None) -> None:
    """From a run's end (its report's ``finished``/``updated_at``) to the event: ``axiom.event_delay``."""
    if (ms := _ms(finished_at, seen_at)) is not None:
        timing("event_delay", conn_id, ms)


def run_duration(conn_id: str, started_at: DateTime | None, finished_at: DateTime | None) -> None:
    """A finished run's duration, start to end, from its report: ``axiom.run_duration``."""
    if (ms := _ms(started_at, finished_at)) is not None:
        timing("run_duration", conn_id, ms)


def queue_time(conn_id: str, triggered_at: DateTime | None, started_at: DateTime | None) -> None:
    """From the trigger to the run's start (its time in the account's queue): ``axiom.queue_time``."""
    if (ms := _ms(triggered_at, started_at)) is not None:
        timing("queue_time", conn_id, max(0.0, ms))


def slot_held(conn_id: str, reason: str) -> None:
    """A trigger was held for a slot: ``axiom.slot_holds`` by ``reason`` (automation_running, account_full)."""
    incr("slot_holds", conn_id, reason=reason)


def slot_wait(conn_id: str, seconds: float, outcome: str) -> None:
    """How long a held trigger waited: ``axiom.slot_wait`` by ``outcome`` (free, held_too_long, timeout)."""
    timing("slot_wait", conn_id, seconds * 1000.0, outcome=outcome)


def reset() -> None:
    """Forget the resolved backend (tests that change ``[metrics]`` between runs)."""
    global _backend, _tagged
    with _lock:
        _backend, _tagged = None, None
