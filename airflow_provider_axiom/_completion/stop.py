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


def _no_viewer(viewer_url: str | None, automation_name: str, why: str) -> bool:
    if not viewer_url:
        log.warning("axiom.ai: cannot stop the run of %r (%s): it has no viewer URL", automation_name, why)
    return not viewer_url


def stop_remote_run(hook: AxiomHook, viewer_url: str | None, automation_name: str, why: str) -> bool:
    """Best effort, bounded: ask the API to stop a run. Returns whether the request was accepted."""
    if _no_viewer(viewer_url, automation_name, why):
        return False
    try:
        hook.stop_run(str(viewer_url))
    except AxiomError as err:
        return _stopped(automation_name, why, err)
    return _stopped(automation_name, why, None)


async def astop_remote_run(hook: AxiomHook, viewer_url: str | None, automation_name: str, why: str) -> bool:
    """Async :func:`stop_remote_run`."""
    if _no_viewer(viewer_url, automation_name, why):
        return False
    try:
        await hook.astop_run(str(viewer_url))
    except AxiomError as err:
        return _stopped(automation_name, why, err)
    return _stopped(automation_name, why, None)
