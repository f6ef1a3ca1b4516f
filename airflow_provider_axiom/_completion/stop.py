"""Stopping a remote run: best effort and bounded, from the worker or the triggerer.

By ``pid``/``pw`` from the viewer link whenever it is known (documented); by the run id only for a
run without a link (a queued trigger) and only where the API has shown that ``/stop`` reads run ids
(:mod:`~airflow_provider_axiom._run_ids`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from airflow_provider_axiom import _run_ids
from airflow_provider_axiom._protocol import whole_link
from airflow_provider_axiom.exceptions import AxiomError

if TYPE_CHECKING:
    from airflow_provider_axiom.hooks.axiom import AxiomHook

log = logging.getLogger(__name__)


def _no_handle(name: str, why: str, viewer_url: str | None, run_id: str | None) -> bool:
    if not (viewer_url or run_id):
        log.warning(
            "axiom.ai: cannot stop the run of %r (%s): it has neither a viewer URL nor a run id (a queued trigger, "
            "or a deferred task whose viewer_url XCom is gone: the trigger's event shows the password masked)",
            name,
            why,
        )
    return not (viewer_url or run_id)


def _unstoppable(name: str, why: str) -> bool:
    log.warning(
        "axiom.ai: cannot stop the run of %r (%s): it has no viewer link (a queued trigger), and this API has not "
        "shown that /stop reads run ids",
        name,
        why,
    )
    return False


def _stopped(hook: AxiomHook, name: str, why: str, err: AxiomError | None, by_id: bool) -> bool:
    if err is not None:
        if by_id:
            _run_ids.refused(hook, "stop", err)
        log.error("axiom.ai: could not stop the run of %r (%s): %s", name, why, err)
        return False
    how = "its run id" if by_id else "its viewer link"
    log.info("axiom.ai: asked the run of %r to stop (%s, by %s)", name, why, how)
    return True


def stop_remote_run(hook: AxiomHook, name: str, why: str, *, viewer_url: str | None, run_id: str | None = None) -> bool:
    """Best effort, bounded: ask the API to stop a run. Returns whether the request was accepted."""
    viewer_url = whole_link(viewer_url)  # a link whose password is masked (a trigger's event) stops nothing
    if _no_handle(name, why, viewer_url, run_id):
        return False
    by_id: bool | None = False
    try:
        by_id = _run_ids.stop_by_id(hook, viewer_url, run_id)
        if by_id is None:
            return _unstoppable(name, why)
        hook.stop_run(viewer_url, run_id=run_id if by_id else None)
    except AxiomError as err:
        return _stopped(hook, name, why, err, bool(by_id))
    return _stopped(hook, name, why, None, by_id)


async def astop_remote_run(
    hook: AxiomHook, name: str, why: str, *, viewer_url: str | None, run_id: str | None = None
) -> bool:
    """Async :func:`stop_remote_run`."""
    viewer_url = whole_link(viewer_url)
    if _no_handle(name, why, viewer_url, run_id):
        return False
    by_id: bool | None = False
    try:
        by_id = await _run_ids.astop_by_id(hook, viewer_url, run_id)
        if by_id is None:
            return _unstoppable(name, why)
        await hook.astop_run(viewer_url, run_id=run_id if by_id else None)
    except AxiomError as err:
        return _stopped(hook, name, why, err, bool(by_id))
    return _stopped(hook, name, why, None, by_id)
