"""``registration_delay: [min, max]``: each new run shows in the API after its own seeded delay."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator
from airflow_provider_axiom.testing.emulator._scenario import ScenarioError


def _visible_after(delay: object, seed: int, triggers: int = 6) -> list[float]:
    """Emulated seconds after its trigger at which each run first shows in /run-reports (0.25 s steps)."""
    scenario = {
        "speed": 0,
        "rate_limit_per_minute": None,
        "seed": seed,
        "registration_delay": delay,
        "plan": {"concurrency": 99},
        "automations": [{"name": f"A{i}", "duration": 600} for i in range(triggers)],
    }
    seen: list[float] = []
    with AxiomEmulator(scenario) as emu, httpx.Client(base_url=emu.base_url + "/") as client:
        for i in range(triggers):
            client.post("trigger", json={"key": emu.api_key, "name": f"A{i}"}).raise_for_status()
            for step in range(0, 30):
                reports = client.post("run-reports", json={"key": emu.api_key, "count": 50}).json()["data"]["reports"]
                if any(r["task_name"] == f"A{i}" for r in reports):
                    seen.append(step * 0.25)
                    break
                emu.advance(0.25)
            else:
                pytest.fail(f"run A{i} never showed in /run-reports")
    return seen


def test_a_range_gives_each_run_its_own_delay_within_it():
    seen = _visible_after([0.3, 3], seed=7)
    assert all(0.5 <= s <= 3 for s in seen), seen
    assert len(set(seen)) > 1, seen  # drawn per run, not one delay for all


def test_the_delays_are_seeded():
    assert _visible_after([0.3, 3], seed=11) == _visible_after([0.3, 3], seed=11)


def test_a_single_number_still_means_one_fixed_delay():
    assert _visible_after(1.5, seed=0, triggers=3) == [1.5, 1.5, 1.5]


@pytest.mark.parametrize("bad", [[3, 0.3], [1], [0.3, "3"], [-1, 2]])
def test_a_malformed_range_names_the_field(bad):
    with pytest.raises(ScenarioError, match="registration_delay"):
        AxiomEmulator({"registration_delay": bad})
