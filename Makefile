# Shortcuts for dev.py, which needs only Python >= 3.10: `python3 dev.py demo`, `python3 dev.py test`.
PYTHON ?= python3

.PHONY: demo test lint typecheck unit bench emulator venv clean

demo test lint typecheck unit bench emulator venv:
	$(PYTHON) dev.py $@

clean:
	rm -rf .venv .demo build dist *.egg-info .mypy_cache .ruff_cache
