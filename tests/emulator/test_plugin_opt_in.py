"""The emulator's pytest plugin is opt-in: off after installing the package, on with ``-p`` or ``pytest_plugins``."""

from __future__ import annotations

from importlib.metadata import entry_points

pytest_plugins = ["pytester"]

PLUGIN = "airflow_provider_axiom.testing.pytest_plugin"

USES_FIXTURE = """
import os

import pytest


@pytest.mark.axiom_scenario({"automations": [{"name": "Scrape"}]})
def test_uses_the_fixture(axiom_emulator):
    assert axiom_emulator.base_url in os.environ["AIRFLOW_CONN_AXIOM_DEFAULT"]
    assert [a.name for a in axiom_emulator.scenario.automations] == ["Scrape"]
"""


def test_no_pytest11_entry_point():
    assert not [ep for ep in entry_points(group="pytest11") if ep.value.startswith("airflow_provider_axiom")]


def test_not_active_without_opting_in(pytester):
    pytester.makepyfile(USES_FIXTURE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'axiom_emulator' not found*"])
    markers = pytester.runpytest_subprocess("--markers", "-p", "no:cacheprovider")
    assert "axiom_scenario" not in markers.stdout.str()


def test_active_with_dash_p(pytester):
    pytester.makepyfile(USES_FIXTURE)
    result = pytester.runpytest_subprocess("-p", PLUGIN, "-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1)


def test_active_with_pytest_plugins_in_the_root_conftest(pytester):
    pytester.makeconftest(f"pytest_plugins = [{PLUGIN!r}]")
    pytester.makepyfile(USES_FIXTURE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1)
