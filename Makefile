# Gradient Flow: the two commands a newcomer needs are `make lab` and `make test`.
# Both create .venv on first use and reuse it afterwards (reinstalling only when
# pyproject.toml or constraints.txt change).

PYTHON ?= python3
# The same numbers on every x86 machine: every printed number in the notebooks is compared
# with the committed one, and without these the kernels that torch, MKL and oneDNN pick for
# the processor (AVX-512 or AVX2, Intel or AMD) change the last digits of matrix products,
# and chaotic training runs (a loss that diverges, a run on a knife edge) drift further.
# MKL's COMPATIBLE mode is the one that gives the same results on Intel and AMD processors.
# conftest.py (at the root) sets the same values for a bare `pytest`; Colab and Binder do without.
export ATEN_CPU_CAPABILITY := avx2
export MKL_CBWR := COMPATIBLE
export ONEDNN_MAX_CPU_ISA := AVX2
# Python 3.13 for the torch-free check: on PATH, or where pyenv keeps it.
PY313  ?= $(shell for p in $(HOME)/.pyenv/versions/3.13*/bin/python3.13 python3.13; do \
              "$$p" -c "" 2>/dev/null && echo "$$p" && break; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Colab's widget stack (ipywidgets 7.7.1) beside the course's own, and Python 3.13 without torch.
COLAB_VENV  := .venv-colab
COLAB_STAMP := $(COLAB_VENV)/.installed
PY313_VENV  := .venv-py313
PY313_STAMP := $(PY313_VENV)/.installed
FIRST_NOTEBOOK := notebooks/01_chain_rule.ipynb
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 120

.PHONY: lab test unit test-browser test-colab test-py313 py313-check lint format notebooks release clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Gradient Flow needs Python 3.10 or newer; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

## Set up (once) and open the course in JupyterLab on the first notebook.
lab: $(STAMP)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(FIRST_NOTEBOOK)

## Set up (once) and run everything CI runs: ruff, the unit tests, strict nbval on every
## notebook, the same notebooks under Colab's ipywidgets 7.7.1, and the torch-free part on 3.13.
test: lint unit test-browser test-colab test-py313

unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile --doctest-modules $(NBVAL) \
	    --ignore=tests/browser course_utils tests notebooks

## Every notebook in JupyterLab in headless Chromium: Run All, no errors, figures, sliders.
## Screenshots go to screenshots/. Needs Debian's chromium (apt-get install chromium).
test-browser: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider tests/browser

$(COLAB_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(COLAB_VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]' \
	    ipywidgets==7.7.1 jupyterlab_widgets==1.1.11
	@touch $(COLAB_STAMP)

## Every notebook again, strict and in the browser, with Colab's widget stack (ipywidgets 7.7.1).
test-colab: $(COLAB_STAMP)
	$(COLAB_VENV)/bin/python -m pytest -n 2 --dist loadfile $(NBVAL) -p no:cacheprovider notebooks
	BROWSER_TEST_KNOWN_PAGE_ERRORS="reading 'Queue'" \
	    $(COLAB_VENV)/bin/python -m pytest -p no:cacheprovider tests/browser

$(PY313_STAMP): pyproject.toml
	$(PY313) -m venv $(PY313_VENV)
	$(PY313_VENV)/bin/python -m pip install --quiet numpy matplotlib 'ipywidgets>=7.7' pytest nbval
	$(PY313_VENV)/bin/python -m pip install --quiet --no-deps -e .
	@touch $(PY313_STAMP)

## Python 3.13 (Colab's), without torch: the package imports, plotting and widgets work.
test-py313:
	@if [ -z "$(PY313)" ]; then \
	    echo "No Python 3.13 found: skipping the torch-free 3.13 check (set PY313=...)."; \
	    if [ -n "$$REQUIRE_PY313" ]; then exit 1; fi; \
	else $(MAKE) --no-print-directory py313-check; fi

py313-check: $(PY313_STAMP)
	$(PY313_VENV)/bin/python -c "import course_utils, course_utils.plotting, course_utils.widgets"
	$(PY313_VENV)/bin/python -m pytest -q -p no:cacheprovider --doctest-modules \
	    course_utils/plotting.py course_utils/widgets.py \
	    tests/test_plotting.py tests/test_widgets.py tests/test_notebooks_clean.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Re-execute every notebook in place so the committed outputs match the code.
notebooks: $(STAMP)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.kernel_name=python3 \
	    --ExecutePreprocessor.timeout=300 \
	    --ExecutePreprocessor.record_timing=False \
	    --ExecutePreprocessor.store_widget_state=False \
	    notebooks/*.ipynb

## Write release/learners (no solutions, no hidden tests) and release/instructor (nbgrader).
release: $(STAMP)
	$(BIN)/python -m course_utils.release --out release --nbgrader

clean:
	rm -rf $(VENV) $(COLAB_VENV) $(PY313_VENV) .pytest_cache .ruff_cache .hypothesis screenshots
