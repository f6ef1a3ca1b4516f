"""What one hook call does, as plain state machines: which request to send next, how long to wait, when to stop.

No I/O here. A driver in ``_transport`` asks a plan for its first :class:`Step`, performs it (a
``Send`` is sent, a ``Sleep`` slept) and hands the plan what came back; the plan answers with the
next step, until ``Done`` or an :class:`~airflow_provider_axiom.exceptions.AxiomError`. So retries,
backoff and the no-second-run rule for ``/trigger`` are written once, for the sync and the async
hook alike.

Rooms: ``steps`` (the words between a plan and its driver, and the call context, which also reads
answers), ``backoff`` (the retry schedule), ``call`` (the plain call and the name suggestions),
``trigger`` (``/trigger``: spacing and the no-second-run rule), ``endpoints`` (the plan of each
endpoint). Nothing here knows what a run is: what ``/trigger`` needs of run identity (the spacing,
finding the run a lost answer started) is passed in by the hook.
"""

from __future__ import annotations

from airflow_provider_axiom._calls.steps import LOG_SCOPE

__all__ = ["LOG_SCOPE"]
