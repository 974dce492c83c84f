# docextract: every target installs what it needs into .venv on a fresh machine: `run` and
# `examples` the transformers engine (.[local]), the others that and the tools (.[local,dev]).
# TORCH_INDEX=https://download.pytorch.org/whl/cpu gives CPU-only torch (no CUDA libraries).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
TORCH_INDEX ?=
PIP_INDEX := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
OUT    ?= out
export OMP_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install test run bench soak lint clean examples gpu-payload gpu-stash gpu-test gpu-bench gpu-bench-shards

install: $(DEV_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_INDEX) -e '.[local]'
	touch $@

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install --quiet $(PIP_INDEX) -e '.[local,dev]'
	touch $@

# Tests never reach the Hugging Face hub. TEST_WORKERS pytest processes share them (0: one).
test: $(DEV_STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -n $(or $(TEST_WORKERS),2)

SCHEMAS := invoice receipt cn_vat_invoice id_card bank_statement medical_invoice property_certificate page_text

# Extract the bundled examples, one schema per folder; stops at the first failing run.
# The default model downloads once when the hub is reachable (HF_HUB_OFFLINE=1 forbids it);
# `make run OUT=out-null ARGS="--engine null"` is a dry run with no model, in its own folder.
run: $(STAMP)
	@for schema in $(SCHEMAS); do \
	  $(VENV)/bin/docextract run examples/documents/$$schema --schema $$schema --out $(OUT) \
	    $(ARGS) || exit $$?; \
	done

examples: $(STAMP)
	$(PY) -m examples.generate examples

bench: $(DEV_STAMP)
	$(PY) -m benchmarks

# Break runs at random (SIGKILL, SIGTERM, a full disk, a file swapped for a FIFO) over an inbox
# with hostile inputs, and check that nothing is lost or doubled and that each hostile input is
# one error row; HOSTILE=einvoice,fifo (say) keeps some kinds only (benchmarks/soak_hostile.py).
soak: $(DEV_STAMP)
	$(PY) -m benchmarks.soak --rounds $(or $(ROUNDS),30) --hostile $(or $(HOSTILE),all)

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check docextract pipeline schemas tests benchmarks examples
	$(VENV)/bin/mypy docextract pipeline schemas

# The GPU suite (tests/gpu) runs on a machine with a CUDA GPU and no network: `make gpu-payload`
# here builds sglang and the test packages into .gpu/parts; on the GPU machine, from a copy of
# this tree, `make gpu-stash PART=p00` keeps one part (one call per part), then `make gpu-test`
# unpacks them once and runs the suite.
gpu-payload:
	bash .ci/gpu/build-payload.sh

gpu-stash:
	bash .gpu/remote.sh stash $(PART)

# GPU_WORKERS tests side by side on the one GPU (0: one at a time); each test's figures print as
# it ends (tests/live_output.py), so a session cut short keeps those of the tests done. pytest's
# cache stays out of the tree, in /tmp, where ARGS=--last-failed finds it.
gpu-test:
	bash .gpu/remote.sh python3 -m pytest -m gpu -v -o cache_dir=/tmp/docextract-gpu-pytest \
	  --durations=0 -n $(or $(GPU_WORKERS),4) --dist loadgroup tests/gpu $(ARGS)

# docextract on sglang beside sglang driven directly; MODEL=tiny or MODEL=full (the
# architecture of Qwen3-VL-30B-A3B-Instruct-FP8, random weights).
gpu-bench:
	bash .gpu/remote.sh python3 -m benchmarks.gpu $(or $(MODEL),tiny) $(ARGS)

# One docextract process with its engine, then the same documents split over PROCESSES
# shard processes, each with an engine of its own, on the same GPU(s).
gpu-bench-shards:
	bash .gpu/remote.sh python3 -m benchmarks.gpu_shards $(or $(MODEL),tiny) --processes $(or $(PROCESSES),2) $(ARGS)

clean:
	rm -rf $(OUT) out-null .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
