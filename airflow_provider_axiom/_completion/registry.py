"""The pollers of this process: one per event loop, base URL and key, created on first use."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from airflow_provider_axiom._completion.poller import KeyPoller
from airflow_provider_axiom._ratelimit import key_fingerprint

if TYPE_CHECKING:
    from airflow_provider_axiom.hooks.axiom import AxiomHook

_pollers: dict[tuple[int, str, str], KeyPoller] = {}


async def poller_for(hook: AxiomHook) -> KeyPoller:
    """The poller of this event loop for the hook's base URL and key (created on first use).

    It polls through a hook of its own (same connection, transport, clock and retry policy), which
    outlives any one waiter's hook.
    """
    settings = (await hook.atransport()).settings
    key = (id(asyncio.get_running_loop()), settings.base_url, key_fingerprint(settings.api_key))
    poller = _pollers.get(key)
    if poller is None:
        poller = _pollers[key] = KeyPoller(hook.sibling(), key, on_idle=_forget)
    await poller.hook.atransport()
    return poller


def _forget(poller: KeyPoller) -> None:
    """A poller stopped with nobody left to serve: the next wait on its key starts a new one."""
    if poller.key is not None and _pollers.get(poller.key) is poller:
        del _pollers[poller.key]
