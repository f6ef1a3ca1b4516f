"""The README's install advice is the locks' inputs: each minor's row pins the release the locks
were compiled for and every cap its ``locks/airflow-<minor>.in`` gives, so what users are told to
install is what CI tests (``dev.py matrix --newest`` reports when a new release needs a new cap)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INPUTS = sorted((ROOT / "locks").glob("airflow-*.in"))


def _requirements(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _install_row(minor: str) -> str:
    readme = (ROOT / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith(f"| {minor}.x |")]
    assert len(rows) == 1, f"the README's Install table has {len(rows)} rows for Airflow {minor}"
    return rows[0]


def test_every_minor_has_inputs_and_locks() -> None:
    minors = {re.fullmatch(r"airflow-(\d+\.\d+)\.in", p.name).group(1) for p in INPUTS}  # type: ignore[union-attr]
    assert minors == {"3.0", "3.1", "3.2", "3.3"}
    for minor in minors:
        locks = sorted((ROOT / "locks").glob(f"airflow-{minor}-py3.*.txt"))
        assert locks, f"no lock for Airflow {minor}: run python3 dev.py lock"
        for lock in locks:
            pinned = dict(r.split("==", 1) for r in _requirements(lock))
            release = next(
                r.split("==")[1]
                for r in _requirements(ROOT / "locks" / f"airflow-{minor}.in")
                if r.startswith("apache-airflow==")
            )
            assert pinned["apache-airflow"] == release, lock.name


@pytest.mark.parametrize("inputs", INPUTS, ids=lambda p: p.stem)
def test_the_readme_row_pins_the_release_and_every_cap(inputs: Path) -> None:
    minor = inputs.stem.removeprefix("airflow-")
    row = _install_row(minor)
    install = row.split("|")[2]
    quoted = set(re.findall(r'"([^"]+)"', install))
    assert quoted == set(_requirements(inputs)), (
        f"the README's {minor}.x row installs {sorted(quoted)}, locks/{inputs.name} says {_requirements(inputs)}"
    )


def test_the_first_install_line_pins_airflow() -> None:
    readme = (ROOT / "README.md").read_text()
    first = re.search(r"## Install\s+```bash\n(.+)\n", readme)
    assert first and '"apache-airflow==' in first.group(1), "the first install line must pin Airflow"
