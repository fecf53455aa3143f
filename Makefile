# Gradient Flow: the two commands a newcomer needs are `make lab` and `make test`.
# Both create .venv on first use and reuse it afterwards (reinstalling only when
# pyproject.toml or constraints.txt change).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FIRST_NOTEBOOK := notebooks/01_chain_rule.ipynb
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 120

.PHONY: lab test lint format notebooks clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Gradient Flow needs Python 3.10 or newer; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

## Set up (once) and open the course in JupyterLab on the first notebook.
lab: $(STAMP)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(FIRST_NOTEBOOK)

## Set up (once) and run everything CI runs: ruff, the unit tests, strict nbval on every notebook.
test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --doctest-modules $(NBVAL) course_utils tests notebooks

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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
