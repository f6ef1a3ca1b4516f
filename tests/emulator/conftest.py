"""Fixtures of the emulator tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from emu_helpers import Api, scenario

from airflow_provider_axiom.testing.emulator import AxiomEmulator


@pytest.fixture
def make_api() -> Iterator[Callable[..., Api]]:
    """``make_api(**scenario_overrides)`` starts an emulator (frozen clock) and returns a client for it."""
    apis: list[Api] = []

    def factory(_scenario: dict[str, Any] | None = None, **overrides: Any) -> Api:
        emu = AxiomEmulator(_scenario if _scenario is not None else scenario(**overrides)).start()
        api = Api(emu)
        apis.append(api)
        return api

    yield factory
    for api in apis:
        api.close()
        api.emu.stop()


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()
