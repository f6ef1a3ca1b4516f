"""Stopping a remote run: best effort and bounded, from the worker or the triggerer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from airflow_provider_axiom.exceptions import AxiomError

if TYPE_CHECKING:
    from airflow_provider_axiom.hooks.axiom import AxiomHook

log = logging.getLogger(__name__)


def _stopped(automation_name: str, why: str, err: AxiomError | None) -> bool:
    if err is not None:
        log.error("axiom.ai: could not stop the run of %r (%s): %s", automation_name, why, err)
        return False
    log.info("axiom.ai: asked the run of %r to stop (%s)", automation_name, why)
    return True


def _no_handle(name: str, why: str, viewer_url: str | None, run_id: str | None) -> bool:
    if not (viewer_url or run_id):
        log.warning(
            "axiom.ai: cannot stop the run of %r (%s): it has neither a viewer URL nor a run id (a queued trigger)",
            name,
            why,
        )
    return not (viewer_url or run_id)


def stop_remote_run(hook: AxiomHook, name: str, why: str, *, viewer_url: str | None, run_id: str | None = None) -> bool:
    """Best effort, bounded: ask the API to stop a run (by run id, else by viewer URL).

    Returns whether the request was accepted."""
    if _no_handle(name, why, viewer_url, run_id):
        return False
    try:
        hook.stop_run(viewer_url, run_id=run_id)
    except AxiomError as err:
        return _stopped(name, why, err)
    return _stopped(name, why, None)


async def astop_remote_run(
    hook: AxiomHook, name: str, why: str, *, viewer_url: str | None, run_id: str | None = None
) -> bool:
    """Async :func:`stop_remote_run`."""
    if _no_handle(name, why, viewer_url, run_id):
        return False
    try:
        await hook.astop_run(viewer_url, run_id=run_id)
    except AxiomError as err:
        return _stopped(name, why, err)
    return _stopped(name, why, None)
