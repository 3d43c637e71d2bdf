# Two commands do everything on a fresh machine: `make bench` (the main job) and `make test` (the suite).
# Both create .venv if missing and install the development stack at the versions of constraints.txt + kdnb (editable)
# + a Jupyter kernel named `kdnb`. Users install kdnb with ranges (settings.ini); `make newest` tests that.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kdnb-installed

NEWEST := .venv-newest

.PHONY: setup newest lock bench test test-gpu lab lint export readme docs browser data sidebar results

setup: $(STAMP)

$(STAMP): settings.ini setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install -c constraints.txt -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name kdnb --display-name 'Python (kdnb)'
	touch $(STAMP)

bench: $(STAMP) data
	$(VENV)/bin/kdnb bench $(ARGS)

# the whole suite: every notebook (papermill), repository checks, then the docs site built from the executed
# notebooks and opened in headless Chromium (tests/test_docs.py)
test: $(STAMP) browser data lint newest
	$(VENV)/bin/pytest -q --durations=40 tests $(ARGS)

# the wheel a user installs: built, installed into a virtual environment of its own ($(NEWEST)) with the newest
# versions settings.ini's ranges allow, and tested there, outside the source tree, by the tests that need neither
# nbdev nor the notebooks (the wheel's contents and metadata, bad inputs, properties, resume, caches, fastai habits
# with a distillation run); tests/newest_versions.txt records what was installed. pip's cache keeps a rerun short.
newest: $(STAMP)
	rm -rf build/wheel && $(PY) -m pip wheel --no-deps -q -w build/wheel .
	test -x $(NEWEST)/bin/python || $(PYTHON) -m venv $(NEWEST)
	$(NEWEST)/bin/pip install -q --upgrade pip
	$(NEWEST)/bin/pip install -q --upgrade --upgrade-strategy eager build/wheel/kdnb-*.whl pytest hypothesis packaging
	$(NEWEST)/bin/pip install -q --force-reinstall --no-deps build/wheel/kdnb-*.whl
	$(NEWEST)/bin/python tools/newest_versions.py > tests/newest_versions.txt
	KDNB_WHEEL=1 KDNB_HYPOTHESIS_EXAMPLES=5 $(NEWEST)/bin/pytest -q -p no:cacheprovider tests/test_wheel.py tests/test_errors.py \
		tests/test_properties.py tests/test_resume.py tests/test_caches.py tests/test_habits.py

# constraints.txt from the development environment, after changing its stack on purpose (then `make test`)
lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v '^kdnb' | cat <(sed -n '/^#/p' constraints.txt) - > constraints.new
	mv constraints.new constraints.txt

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
# the heterogeneous pair (cnn-t -> an MLP): the methods that need no student feature maps
HETERO_METHODS = none,kd,ofa,rkd,pkt,crd,kdpp,dkdpp,ofa_branches

results: $(STAMP) data
	$(VENV)/bin/kdnb bench --methods all --out nbs/foundation/results/bench
	$(VENV)/bin/kdnb bench --student mlp --methods $(HETERO_METHODS) --out nbs/foundation/results/bench_mlp
	$(PY) benchmarks/bench_settings.py --json nbs/foundation/results/bench_settings.json
	$(PY) tools/run_full.py $(ARGS)
	$(PY) tools/make_tables.py
	$(PY) tools/make_readme.py
