# Two commands do everything on a fresh machine: `make bench` (the main job) and `make test` (the suite).
# Both create .venv if missing and install the pinned stack + kdnb (editable) + a Jupyter kernel named `kdnb`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kdnb-installed

.PHONY: setup bench test test-gpu lab lint export readme docs browser data sidebar results

setup: $(STAMP)

$(STAMP): settings.ini setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel packaging
	$(PY) -m pip install -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name kdnb --display-name 'Python (kdnb)'
	touch $(STAMP)

bench: $(STAMP) data
	$(VENV)/bin/kdnb bench $(ARGS)

# the whole suite: every notebook (papermill), repository checks, then the docs site built from the executed
# notebooks and opened in headless Chromium (tests/test_docs.py)
test: $(STAMP) browser data lint
	$(VENV)/bin/pytest -q --durations=40 tests $(ARGS)

# unused imports, undefined names, lines over 120 characters (ruff.toml); fix kdnb/ findings in its notebooks
lint: $(STAMP)
	$(PY) tools/lint.py

# the static docs site in docs/ (offline: Sphinx + MyST-NB, MathJax served locally); open docs/index.html
docs: $(STAMP)
	$(PY) tools/build_docs.py $(ARGS)

# Fashion-MNIST, the leaderboard's dataset: Debian's package installs the original IDX files in
# /usr/share/datasets/fashion-mnist (root installs it; anyone else is told how; KDNB_FASHION_DIR points elsewhere)
data:
	@[ -n "$$KDNB_FASHION_DIR" ] || [ -e /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; else echo "Fashion-MNIST is missing: sudo apt-get install dataset-fashion-mnist (or set KDNB_FASHION_DIR)"; exit 1; fi; }

# Debian's Chromium for the browser test of the docs (root installs it; anyone else is told how)
browser:
	@command -v chromium >/dev/null || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; else echo "the docs test needs Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

# the same notebooks at their full (paper-size) parameters; meant for a CUDA machine
test-gpu: $(STAMP) browser data
	KDNB_FULL=1 $(VENV)/bin/pytest -q tests $(ARGS)

# (as root, as on this project's machines, Jupyter needs --allow-root)
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --no-browser --notebook-dir nbs --MappingKernelManager.default_kernel_name=kdnb \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# after editing notebooks: export the library and strip outputs/metadata
export: $(STAMP)
	$(VENV)/bin/nbdev_export
	$(PY) tools/make_tables.py
	$(VENV)/bin/nbdev_clean
	$(PY) tools/make_readme.py

# nbs/sidebar.yml (Quarto's sidebar) after adding a notebook, without building the docs
sidebar: $(STAMP)
	$(PY) tools/write_sidebar.py

# README.md is generated from nbs/index.ipynb (nbdev_readme needs Quarto, not installable here)
readme: $(STAMP)
	$(PY) tools/make_tables.py
	$(PY) tools/make_readme.py

# the committed results every published number comes from: the default leaderboard, then each method notebook's
# full run (its `full=True` setting, written to nbs/<family>/results/), then every table regenerated from them.
# Commit first: the files record the commit they were made with. About an hour on 2 CPU cores.
results: $(STAMP) data
	$(VENV)/bin/kdnb bench --methods all --out nbs/foundation/results/bench
	$(PY) benchmarks/bench_settings.py --json nbs/foundation/results/bench_settings.json
	$(PY) tools/run_full.py $(ARGS)
	$(PY) tools/make_tables.py
	$(PY) tools/make_readme.py
