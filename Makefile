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
.PHONY: help venv install demo loso-bench results test test-all lint format bench clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-10s %s\n", $$1, $$2}'

# The venv is rebuilt only when pyproject.toml changes (the stamp is newer otherwise).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]' 2>&1 | grep -v "is ignored: it is neither"; test $${PIPESTATUS[0]} -eq 0
	@touch $(STAMP)

venv: $(STAMP) ## create .venv and install the project (pip install -e .[dev])
install: venv ## same as venv

# the same figures on every x86 CPU with AVX2 (docs/reproducibility.md): fp32 descriptors, torch's
# CPU kernels on AVX2 (ATen, MKL, oneDNN), a fixed thread count (pre-training: DEMO_THREADS; the
# LOSO folds: 1). DEMO_REPRO= takes each library's fastest path for this CPU instead (bf16
# descriptors where the CPU has bf16): faster, and its figures depend on the CPU
DEMO_REPRO ?= backbone.precision=fp32 cpu_isa=avx2
# NumPy's kernels capped at AVX2 too (read when it is imported; the generator's videos depend on
# them): utils/cpu_isa.py NUMPY_ENV
NPY_AVX2 = AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL \
    AVX512_SPR X86_V4
demo: export NPY_DISABLE_CPU_FEATURES = $(if $(findstring cpu_isa=avx2,$(DEMO_REPRO) $(DEMO_OVERRIDES)),$(NPY_AVX2))
DEMO_THREADS ?= 2
# extra overrides for every step of the demo, e.g. DEMO_OVERRIDES=synth.seed=1
DEMO_OVERRIDES ?=
DEMO_ARGS = synth=$(DEMO_PRESET) paths.root_dir=$(DEMO_ROOT) $(DEMO_REPRO) $(DEMO_OVERRIDES)
DEMO_MODELS ?= tiny,tiny_scratch_same,tiny_scratch,tiny_probe,motion_spectrum,meanpool_linear
demo: venv ## the main job on the synthetic default: generate, pre-train, LOSO sweep (the framework's recipe: loso=recipe), report, diagnostics
	$(PY) -m seizure_lightning +experiment=synthesize $(DEMO_ARGS)
	$(PY) -m seizure_lightning +experiment=pretrain $(DEMO_ARGS) threads=$(DEMO_THREADS) \
	    hydra.run.dir=$(DEMO_ROOT)/logs/demo/pretrain
	$(PY) -m seizure_lightning -m +experiment=loso $(DEMO_ARGS) loso=recipe loso.name=demo \
	    pretrained=$(DEMO_ROOT)/logs/demo/pretrain/encoder.pt model=$(DEMO_MODELS) \
	    hydra/launcher=joblib hydra.launcher.n_jobs=$(DEMO_JOBS) threads=1 \
	    trainer.max_epochs=$(DEMO_EPOCHS)
	$(PY) -m seizure_lightning.loso.diagnose $(DEMO_ROOT)/logs/loso/demo \
	    --out $(DEMO_ROOT)/logs/loso/demo/diagnostics.md
	$(PY) -m seizure_lightning.report.table $(DEMO_ROOT)
	@echo "Summary: $(DEMO_ROOT)/logs/loso/demo/summary.md"

# The learning benchmark under its frozen protocol (experiments/protocol.yaml, docs/evaluation.md):
# one setting on one seed (generate, pre-train, the LOSO sweep of the setting's models,
# diagnostics). A seed the protocol names is a report seed: it runs once, from the recipe commit,
# and its results go to docs/results/; any other seed is a development run (BENCH_OVERRIDES only
# there). `python -m seizure_lightning.benchmark run ... --dry-run` prints the steps.
BENCH_SETTING ?= standard
BENCH_SEED ?= 0
BENCH_ROOT ?= $(CURDIR)
# extra overrides for every step of a development run, e.g. BENCH_OVERRIDES=synth.subjects_es=8
BENCH_OVERRIDES ?=
loso-bench: venv ## the learning benchmark: setting BENCH_SETTING (standard) on seed BENCH_SEED (0, a development seed)
	$(PY) -m seizure_lightning.benchmark run --setting $(BENCH_SETTING) --seed $(BENCH_SEED) \
	    --root $(BENCH_ROOT) --jobs $(DEMO_JOBS) $(BENCH_OVERRIDES)

results: venv ## docs/results.md from the protocol's stored report results
	$(PY) -m seizure_lightning.benchmark results

test: venv ## the fast test tier (< 10 minutes on 2 cores)
	$(PYTEST) -q -x --timeout=600

test-all: venv ## every test, slow tier included
	$(PYTEST) -q -m "" --timeout=1800

lint: venv ## ruff over the whole tree + the import layers contract (import-linter, pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

format: venv ## ruff format + import sort
	$(VENV)/bin/ruff check --fix seizure_lightning tests experiments
	$(VENV)/bin/ruff format seizure_lightning tests experiments

bench: venv ## performance benchmarks (JSON + Markdown table in experiments/benchmarks/results)
	$(PY) experiments/benchmarks/run_all.py

clean: ## remove caches and outputs (keeps .venv)
	rm -rf .pytest_cache .ruff_cache logs outputs multirun
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +
