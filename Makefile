# Two commands do all the set-up on a fresh machine (see README):
#   make render   set up .venv and render examples/fleet.yaml
#   make test     set up .venv and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: render test bench clean

$(STAMP): requirements-dev.txt core/pyproject.toml $(wildcard plugins/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

render: $(STAMP)
	$(BIN)/dokaseca render examples/fleet.yaml

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_render.py
	$(BIN)/python bench/bench_apply.py
	$(BIN)/python bench/bench_prepare.py
	$(BIN)/python bench/bench_prepare_clouds.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
