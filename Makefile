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

# AdvOcc@40/@80 (DESIGN section 7): sparse-only vs HiPART lifter on the sample test split, keypoint-level
# occlusion model. Inputs default to the demo's outputs; override ADVOCC_STORE / ADVOCC_SPARSE / ADVOCC_HIPART.
ADVOCC_STORE ?= runs/demo/poses.h5
ADVOCC_SPARSE ?= runs/demo/lift_sparse
ADVOCC_HIPART ?= runs/demo/lift_hipart
ADVOCC_OUT ?= runs/advocc
.PHONY: reproduce-advocc
reproduce-advocc: install
	@test -e $(ADVOCC_STORE) -a -e $(ADVOCC_SPARSE) -a -e $(ADVOCC_HIPART) || $(MAKE) demo
	for size in 40 80; do \
	  $(HIPART) evaluate --protocol advocc$$size --store $(ADVOCC_STORE) --checkpoint $(ADVOCC_SPARSE) \
	    --checkpoint $(ADVOCC_HIPART) --out $(ADVOCC_OUT)/advocc$$size --config configs/tiny.toml || exit $$?; \
	done
