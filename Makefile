# Shortcuts for dev.py, which needs only Python >= 3.10: `python3 dev.py demo`, `python3 dev.py test`.
PYTHON ?= python3

.PHONY: demo test e2e lint typecheck unit bench emulator venv matrix package ci clean

demo test e2e lint typecheck unit bench emulator venv matrix package:
	$(PYTHON) dev.py $@

ci:
	.ci/run

clean:
	rm -rf .venv .venvs .demo .artifacts build dist *.egg-info .mypy_cache .ruff_cache
