"""What an API key has shown it does with a run id, and the request shapes that follow from it.

The documented requests carry no run id: ``/run-data`` takes a ``name`` and answers for the newest
run of it, ``/stop`` takes ``pid``/``pw`` from the viewer link. Other pages say ``/trigger`` returns a
``run_id`` that ``/run-data`` and ``/stop`` accept. A run id is always recorded and reported, but a
request is shaped by it only once the API has shown, for that key, that it reads the field:

- ``/run-data``: the name with an id no run can have. An API that reads the id answers 404 ``Run
  not found`` (the error page's "invalid or expired run_id"); one that ignores it answers for the
  newest run of the name; any other 4xx refuses it.
- ``/stop``: only such an id. 404 ``Run not found``: it reads it; another 4xx (no ``pid``/``pw``):
  it refuses it; an answer: it ignores it (no run has that id, so nothing was stopped).

One proof per key and endpoint per process at most, cached here; a by-id request later answered
with a 4xx forgets the proof (it is proven again before the next by-id request). By-id requests
always carry the name too (``/run-data``), and ``/stop`` goes by the viewer link whenever it is known.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Literal

from airflow_provider_axiom._ratelimit import key_fingerprint
from airflow_provider_axiom.exceptions import AxiomAuthError, AxiomError, AxiomNotFoundError, AxiomQuotaError

if TYPE_CHECKING:
    from airflow_provider_axiom.hooks.axiom import AxiomHook

log = logging.getLogger(__name__)

Endpoint = Literal["run-data", "stop"]
#: What the API does with a run id: reads it, ignores it, refuses it; ``unproven``: the proof said nothing.
Reading = Literal["reads", "ignores", "refuses", "unproven"]
_Key = tuple[str, str, Endpoint]

#: An id no run can have: the proof's request.
IMPOSSIBLE_RUN_ID = "airflow-provider-axiom-no-such-run"

_lock = threading.Lock()
_readings: dict[_Key, Reading | Literal["proving"]] = {}


def _key(hook: AxiomHook, endpoint: Endpoint) -> _Key:
    settings = hook.settings
    return settings.base_url, key_fingerprint(settings.api_key), endpoint


def reading(hook: AxiomHook, endpoint: Endpoint) -> Reading | None:
    """What this key has shown for ``endpoint`` in this process (None: not proven yet, or being proven)."""
    found = _readings.get(_key(hook, endpoint))
    return None if found in (None, "proving") else found  # type: ignore[return-value]


def reads(hook: AxiomHook, endpoint: Endpoint) -> bool:
    """Whether requests to ``endpoint`` may be shaped by a run id (the API has shown that it reads it)."""
    return reading(hook, endpoint) == "reads"


def proving(hook: AxiomHook, endpoint: Endpoint) -> bool:
    """Whether the proof for ``endpoint`` is in flight (claimed, no verdict yet)."""
    return _readings.get(_key(hook, endpoint)) == "proving"


def due(hook: AxiomHook, endpoint: Endpoint) -> bool:
    """Whether the proof for ``endpoint`` has yet to be sent (no one in this process has claimed it)."""
    return _key(hook, endpoint) not in _readings


def verdict_of(status: int | None, message: str | None, endpoint: Endpoint) -> Reading:
    """What a proof's answer shows, from its HTTP status (None: no answer) and the API's message."""
    if status is None or status >= 500 or status in (401, 403, 408, 429):
        return "unproven"  # says nothing about run ids
    if status < 400:
        return "ignores"
    if status == 404:
        if (message or "").strip().lower().startswith("task not found"):
            return "unproven" if endpoint == "run-data" else "refuses"
        return "reads"  # "Run not found": the id was looked up
    return "refuses"


def verdict(error: AxiomError | None, endpoint: Endpoint) -> Reading:
    """:func:`verdict_of` for a hook call: ``error`` is what it raised (None: it was answered)."""
    if error is None:
        return "ignores"
    if error.retryable or isinstance(error, (AxiomAuthError, AxiomQuotaError)):
        return "unproven"
    status = 404 if isinstance(error, AxiomNotFoundError) else error.status_code
    return verdict_of(status, error.api_message, endpoint)


_SAID = {
    "reads": "reads run ids: a run whose /trigger answer held one is read by it (with its name)",
    "ignores": "ignores run ids: runs are recognised by name and start time, as documented",
    "refuses": "refuses run ids: runs are recognised by name and start time, as documented",
    "unproven": "gave no answer about run ids: runs are recognised by name and start time, as documented",
}


def _record(key: _Key, found: Reading, error: AxiomError | None) -> Reading:
    with _lock:
        _readings[key] = found
    extra = f" ({error.api_message or error})" if error is not None and found != "reads" else ""
    log.info("axiom.ai: for key %s, %s %s%s", key[1], key[2], _SAID[found], extra)
    return found


def _claim(key: _Key) -> bool:
    with _lock:
        if key in _readings:
            return False
        _readings[key] = "proving"
        return True


async def aprove_run_data(hook: AxiomHook, name: str) -> Reading | None:
    """Send the ``/run-data`` proof once per key in this process (``name`` must have a run listed)."""
    await hook.atransport()
    key = _key(hook, "run-data")
    if not _claim(key):
        return reading(hook, "run-data")
    try:
        await hook.aget_run_data(name, run_id=IMPOSSIBLE_RUN_ID)
    except AxiomError as err:
        return _record(key, verdict(err, "run-data"), err)
    except BaseException:  # cancelled, or a bug: no poller may wait for a verdict that never comes
        _release(key)
        raise
    return _record(key, "ignores", None)


def _release(key: _Key) -> None:
    with _lock:
        if _readings.get(key) == "proving":
            del _readings[key]


def refused(hook: AxiomHook, endpoint: Endpoint, error: AxiomError) -> bool:
    """A by-id request failed: a 4xx forgets the proof (say so, once). True when it was a 4xx."""
    status = error.status_code
    if error.retryable or status is None or not 400 <= status < 500:
        return False
    key = _key(hook, endpoint)
    with _lock:
        forgotten = _readings.pop(key, None) == "reads"
    if forgotten:
        log.warning(
            "axiom.ai: for key %s, %s refused a request by run id (%s); falling back to the documented request "
            "(by name and start time, or the viewer link), and proving the run id reading again before using it",
            key[1],
            endpoint,
            error.api_message or error,
        )
    return True


# -- /stop: by the viewer link whenever it is known; by the run id only where proven


def _stop_shape(hook: AxiomHook, viewer_url: str | None, run_id: str | None) -> Literal["link", "id", "prove", "none"]:
    if viewer_url:
        return "link"
    if not run_id:
        return "none"
    if due(hook, "stop") and _claim(_key(hook, "stop")):
        return "prove"
    return "id" if reads(hook, "stop") else "none"


def _proven_stop(hook: AxiomHook, error: AxiomError | None) -> Literal["id", "none"]:
    return "id" if _record(_key(hook, "stop"), verdict(error, "stop"), error) == "reads" else "none"


def stop_by_id(hook: AxiomHook, viewer_url: str | None, run_id: str | None) -> bool | None:
    """How to stop a run: by the link (False), by its id (True), or not at all (None); may send the proof."""
    hook.transport()
    shape = _stop_shape(hook, viewer_url, run_id)
    if shape == "prove":
        try:
            hook.stop_run(None, run_id=IMPOSSIBLE_RUN_ID)
        except AxiomError as err:
            shape = _proven_stop(hook, err)
        except BaseException:
            _release(_key(hook, "stop"))
            raise
        else:
            shape = _proven_stop(hook, None)
    return None if shape == "none" else shape == "id"


async def astop_by_id(hook: AxiomHook, viewer_url: str | None, run_id: str | None) -> bool | None:
    """Async :func:`stop_by_id`."""
    await hook.atransport()
    shape = _stop_shape(hook, viewer_url, run_id)
    if shape == "prove":
        try:
            await hook.astop_run(None, run_id=IMPOSSIBLE_RUN_ID)
        except AxiomError as err:
            shape = _proven_stop(hook, err)
        except BaseException:
            _release(_key(hook, "stop"))
            raise
        else:
            shape = _proven_stop(hook, None)
    return None if shape == "none" else shape == "id"


def forget_all() -> None:
    """Forget every proof (tests: each starts as a new process would)."""
    with _lock:
        _readings.clear()
