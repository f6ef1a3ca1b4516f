"""The one way the tests write an emulator scenario (``AxiomEmulator(scenario)``, ``axiom_scenario``).

``scenario(api_key, automations, ...)`` fills in the defaults most tests share: the emulator's clock
at real speed, no rate limit and a plan of 5 concurrent runs. What a test means to vary it passes
by keyword (``speed=0`` for a paused clock that only injected sleeps move,
``rate_limit_per_minute=100`` for the API's limit, ``concurrency=...``, ``plan={...}`` for the
plan's other fields); any other scenario field (``history``, ``run_ids``, ``seed``,
``registration_delay``, ...) passes through as is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def scenario(
    api_key: str,
    automations: Iterable[Mapping[str, Any]],
    *,
    speed: float = 1,
    rate_limit_per_minute: int | None = None,
    concurrency: int = 5,
    plan: Mapping[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An emulator scenario: these automations on the key ``api_key``, with the common defaults."""
    return {
        "api_key": api_key,
        "speed": speed,
        "rate_limit_per_minute": rate_limit_per_minute,
        "plan": {"concurrency": concurrency, **(plan or {})},
        "automations": [dict(automation) for automation in automations],
        **fields,
    }
