"""pytest plugin of the axiom.ai API emulator: the ``axiom_emulator`` fixture and its marker.

It is opt-in: installing the package does not load it. Enable it with ``pytest -p
airflow_provider_axiom.testing.pytest_plugin`` (also in ``addopts``), or with
``pytest_plugins = ["airflow_provider_axiom.testing.pytest_plugin"]`` in the root ``conftest.py``.

Usage::

    @pytest.mark.axiom_scenario({"automations": [{"name": "Scrape", "duration": 2}]})
    def test_scrape(axiom_emulator):
        ...  # AIRFLOW_CONN_AXIOM_DEFAULT points at the emulator for this test

The marker takes a scenario mapping, a path to a JSON/YAML file (relative paths are tried next to the
test module first) or a bundled name (``"demo"``), plus optional keyword overrides of top-level keys.
Without the marker the default scenario is used. Importing this module is cheap: no Airflow, no server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_axiom.testing.emulator import AxiomEmulator

MARKER = "axiom_scenario"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(scenario=None, **overrides): scenario (mapping, file path or bundled name) "
        "for the axiom_emulator fixture",
    )


def _scenario_for(request: pytest.FixtureRequest) -> Any:
    from airflow_provider_axiom.testing.emulator._scenario import scenario_dict

    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return None
    source: Any = marker.args[0] if marker.args else None
    if isinstance(source, (str, Path)):
        local = Path(request.node.path).parent / source
        if local.is_file():
            source = local
    if not marker.kwargs:
        return source
    merged = scenario_dict(source)
    merged.update(marker.kwargs)
    return merged


@pytest.fixture
def axiom_emulator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[AxiomEmulator]:
    """A running axiom.ai API emulator; ``AIRFLOW_CONN_AXIOM_DEFAULT`` points at it for the test."""
    from airflow_provider_axiom.testing.emulator import AxiomEmulator

    with AxiomEmulator(_scenario_for(request)) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", emulator.connection_json())
        yield emulator
