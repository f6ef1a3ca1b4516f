"""The metric names the metrics tests expect (``tests/test_metrics.py``, ``tests/e2e/test_metrics_triggerer.py``)."""

from __future__ import annotations

#: The prefix of every metric of the provider, as Airflow's StatsD client sends it.
P = "airflow.axiom."

#: What the provider's own call sites (transport, hook) emit in a trigger -> wait -> read DAG run.
OWN = {
    P + "calls.axiom_default.trigger.ok",
    P + "calls.axiom_default.run-reports.ok",
    P + "calls.axiom_default.run-data.ok",
    P + "runs_started.axiom_default.started",
    P + "limiter_pace.axiom_default",
}
#: Emitted by the waiting code (poller, wait loop, operator) once it calls the ``_metrics``
#: functions listed in the README's "Monitoring" section. Extend this set as they are wired in.
FROM_WAITING = {P + f"{name}.axiom_default" for name in ("runs_waited", "event_delay", "run_duration", "queue_time")}
