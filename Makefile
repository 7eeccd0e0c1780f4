# Every user-facing target installs what it needs first, so each works as the only command typed.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.hipart-installed
HIPART := $(BIN)/hipart
PYTEST_ARGS ?=

.PHONY: install test demo bench clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev,plot]"
	@touch $(STAMP)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install
	$(HIPART) demo

bench: install
	$(HIPART) bench

clean-venv:
	rm -rf $(VENV)
