# Every target sets up .venv on first use; later calls reuse it (idempotent).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Headless MuJoCo rendering (evaluation videos, docs/videos.md): software OpenGL unless the
# caller chose a backend (MUJOCO_GL=egl on GPU nodes).
export MUJOCO_GL ?= osmesa

.PHONY: setup run test test-unit test-slow lint docs bench bench-curves bench-epochs gpu-check clean config-reference \
	setup-metaworld test-metaworld

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of torch first, so the package's torch range installs nothing more.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	# libosmesa6 for MuJoCo videos where apt-get is available as root; a note otherwise.
	scripts/install_gl.sh
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m mier_pl fit --config conf/point_goal.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The unit loop (about a minute): no learning checks, no end-to-end runs (CLI fits, DDP, ...).
test-unit: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not e2e"

# Meta-World families (docs/metaworld.md): metaworld 3.1.1 beside the project's MuJoCo 4.
# metaworld declares mujoco==3.3.0, so it goes in without its dependencies (the extra lists the
# others); mier_pl/envs/meta_world.py patches the one MuJoCo 4 difference it meets.
setup-metaworld: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,metaworld]'
	$(BIN)/pip install -q --no-deps metaworld==3.1.1

# The Meta-World tests (skipped by `make test` where metaworld is absent); about 3 minutes.
test-metaworld: setup-metaworld
	$(BIN)/python -m pytest -q tests/envs tests/cli/test_cli_meta_world.py tests/benchmarks/test_bench_meta_world.py \
		"tests/cli/test_cli_fit.py::test_every_config_runs_one_debug_epoch"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check mier_pl tests benchmarks examples
	$(BIN)/ruff format --check mier_pl tests benchmarks examples

# The documentation site into site/ (mkdocs.yml): docs/*.md and the API reference from the
# docstrings; --strict fails on a broken link or reference. Offline once installed.
docs: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,docs]'
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python -m benchmarks --threads 1

# Cost curves: step time, replay memory and sampling as the work grows (benchmarks/curves.*).
bench-curves: $(STAMP)
	$(BIN)/python -m benchmarks --curves --threads 1

# Epoch time of every family config (short real epochs, scaled; about 8 minutes).
bench-epochs: $(STAMP)
	$(BIN)/python -m benchmarks.epochs --torch_threads 1

# The first session with a GPU: fit, resume, adapt, 16-mixed, the CUDA-graph step against the
# eager one, DDP on every visible GPU, the host-sync test and the benchmark on CUDA, in under
# 10 minutes (scripts/gpu_check.sh).
gpu-check: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	PY=$(abspath $(BIN)/python) scripts/gpu_check.sh

clean:
	rm -rf $(VENV) lightning_logs .pytest_cache site

# The README's config reference, generated from --print_config (tests/test_docs.py checks it).
config-reference: $(STAMP)
	$(BIN)/python -m mier_pl fit --config conf/ant_neg.yaml --print_config > docs/config_reference.yaml
