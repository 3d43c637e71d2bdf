# Two commands do everything on a fresh machine: `make bench` (the main job) and `make test` (the suite).
# Both create .venv if missing and install the pinned stack + kdnb (editable) + a Jupyter kernel named `kdnb`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kdnb-installed

.PHONY: setup bench test test-gpu lab export readme

setup: $(STAMP)

$(STAMP): settings.ini setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel packaging
	$(PY) -m pip install -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name kdnb --display-name 'Python (kdnb)'
	touch $(STAMP)

bench: $(STAMP)
	$(VENV)/bin/kdnb bench $(ARGS)

test: $(STAMP)
	$(VENV)/bin/pytest -q tests $(ARGS)

# the same notebooks at their full (paper-size) parameters; meant for a CUDA machine
test-gpu: $(STAMP)
	KDNB_FULL=1 $(VENV)/bin/pytest -q tests $(ARGS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --no-browser --notebook-dir nbs --MappingKernelManager.default_kernel_name=kdnb

# after editing notebooks: export the library and strip outputs/metadata
export: $(STAMP)
	$(VENV)/bin/nbdev_export
	$(VENV)/bin/nbdev_clean
	$(PY) tools/make_readme.py

# README.md is generated from nbs/index.ipynb (nbdev_readme needs Quarto, not installable here)
readme: $(STAMP)
	$(PY) tools/make_readme.py
