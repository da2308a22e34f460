# seizure-lightning: `make demo` and `make test` work on a fresh clone (they build .venv first).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST := $(PY) -m pytest
DEMO_ROOT ?= $(CURDIR)
DEMO_PRESET ?= demo
# LOSO folds of the demo run in parallel, one thread each (fastest for the small models)
DEMO_JOBS ?= 2
# fine-tuning epochs of each demo fold (the paper: 50; fewer keep the demo to minutes)
DEMO_EPOCHS ?= 25
export WANDB_MODE ?= offline
export WANDB_SILENT ?= true

.DEFAULT_GOAL := help
.PHONY: help venv install demo test test-all lint format bench clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-10s %s\n", $$1, $$2}'

# The venv is rebuilt only when pyproject.toml changes (the stamp is newer otherwise).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]' 2>&1 | grep -v "is ignored: it is neither"; test $${PIPESTATUS[0]} -eq 0
	@touch $(STAMP)

venv: $(STAMP) ## create .venv and install the project (pip install -e .[dev])
install: venv ## same as venv

DEMO_ARGS = synth=$(DEMO_PRESET) paths.root_dir=$(DEMO_ROOT)
demo: venv ## the main job on the synthetic default: generate, pre-train, LOSO sweep, report
	$(PY) -m seizure_lightning +experiment=synthesize $(DEMO_ARGS)
	$(PY) -m seizure_lightning +experiment=pretrain $(DEMO_ARGS) \
	    hydra.run.dir=$(DEMO_ROOT)/logs/demo/pretrain
	$(PY) -m seizure_lightning -m +experiment=loso $(DEMO_ARGS) loso.name=demo \
	    pretrained=$(DEMO_ROOT)/logs/demo/pretrain/encoder.pt \
	    model=tiny,tiny_scratch,lstm,motion_spectrum,meanpool_linear \
	    hydra/launcher=joblib hydra.launcher.n_jobs=$(DEMO_JOBS) threads=1 \
	    trainer.max_epochs=$(DEMO_EPOCHS) loso.decision=val_threshold
	@echo "Summary: $(DEMO_ROOT)/logs/loso/demo/summary.md"

test: venv ## the fast test tier (< 10 minutes on 2 cores)
	$(PYTEST) -q -x --timeout=600

test-all: venv ## every test, slow tier included
	$(PYTEST) -q -m "" --timeout=1800

lint: venv ## ruff + the import layers contract (import-linter, pyproject.toml)
	$(VENV)/bin/ruff check seizure_lightning tests experiments
	$(VENV)/bin/lint-imports

format: venv ## ruff format + import sort
	$(VENV)/bin/ruff check --fix seizure_lightning tests experiments
	$(VENV)/bin/ruff format seizure_lightning tests experiments

bench: venv ## performance benchmarks (JSON + Markdown table in experiments/benchmarks/results)
	$(PY) experiments/benchmarks/run_all.py

clean: ## remove caches and outputs (keeps .venv)
	rm -rf .pytest_cache .ruff_cache logs outputs multirun
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +
