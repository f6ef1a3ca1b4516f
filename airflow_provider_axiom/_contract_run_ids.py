"""``axiom-contract-check``'s run-id checks: what the API does with a run id in each by-id request the
package may send, tried on the check's own test run (see :mod:`~airflow_provider_axiom._run_ids`).

Per request, the same proof the package sends (an id no run can have) says whether the API reads run
ids, ignores them or refuses them. Where it reads them, the package will shape requests by the run's
id, so the check then sends that request with the test run's real id: an answer that is not the test
run's (a 4xx, another status) breaks what the package would rely on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_axiom._protocol import ApiRequest, run_data_request, run_state, stop_request
from airflow_provider_axiom._run_ids import IMPOSSIBLE_RUN_ID, Endpoint, Reading, verdict_of
from airflow_provider_axiom._run_state import RunState

#: Sends one request: (HTTP status, parsed JSON or None).
Post = Callable[[ApiRequest], tuple[int, Any]]
#: One finding: (assumption, what the API answered, matches, breaking).
Check = tuple[str, str, bool, bool]

SAID: dict[Reading, str] = {
    "reads": "the API reads run ids",
    "ignores": "the API ignores them",
    "refuses": "the API refuses them",
    "unproven": "the answer says nothing about run ids",
}


def _answer(status: int, body: Any) -> tuple[int, str]:
    """The status and message, with an error body sent with HTTP 200 read as the error it is."""
    message = str(body.get("message") or "") if isinstance(body, dict) else str(body)[:120]
    if status == 200 and isinstance(body, dict) and body.get("status") == "error":
        status = 404 if "not found" in message.lower() else 400
    return status, message


def _proof(post: Post, request: ApiRequest, endpoint: Endpoint, shape: str) -> tuple[Reading, Check]:
    status, message = _answer(*post(request))
    reading = verdict_of(status, message, endpoint)
    check = (
        f"{shape} with an id no run has: the package shapes requests by run id only where the API reads them",
        f"{SAID[reading]} (HTTP {status}{': ' + message[:120] if message and status >= 400 else ''})",
        True,
        False,
    )
    return reading, check


def run_id_checks(post: Post, name: str, run_id: str, state: RunState | None) -> list[Check]:
    """The by-id requests, tried on the test run ``run_id`` of ``name`` that ended in ``state`` (None: not ended)."""
    checks: list[Check] = []
    reading, check = _proof(post, run_data_request(name, IMPOSSIBLE_RUN_ID), "run-data", "/run-data {name, run_id}")
    checks.append(check)
    if reading == "reads" and state is not None:
        status, body = post(run_data_request(name, run_id))
        answered = run_state(str(body.get("status"))) if status == 200 and isinstance(body, dict) else None
        checks.append(
            (
                "/run-data {name, run_id} of the test run answers for that run (the package relies on it)",
                f"HTTP {status}, status {answered.value if answered else _answer(status, body)[1][:120]!r}",
                answered == state,
                True,
            )
        )
    reading, check = _proof(post, stop_request(None, IMPOSSIBLE_RUN_ID), "stop", "/stop {run_id}")
    checks.append(check)
    if reading == "reads" and state is not None:
        status, body = _answer(*post(stop_request(None, run_id)))
        checks.append(
            (
                "/stop {run_id} of the (ended) test run is accepted (the package relies on it for a queued run)",
                f"HTTP {status}" + (f": {body[:120]}" if status >= 400 else ""),
                status < 400,
                True,
            )
        )
    return checks
