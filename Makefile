# Every target works from a fresh clone with only Python >= 3.10 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install up test test-fast lint bench clean

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (containers, CI), every process would
# otherwise recompile what it imports; `import prefect` took 5.7 s instead of 3.6 s here.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

up: install
	$(BIN)/pipelines up

test: install
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not e2e and not component"

lint: install
	$(BIN)/pre-commit run --all-files

bench: install
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e '.[dev,bench]'
	$(BIN)/python benchmarks/cli.py
	$(BIN)/python benchmarks/registration.py
	$(BIN)/python benchmarks/local_run.py
	$(BIN)/python benchmarks/stack.py
	$(BIN)/python benchmarks/dumps.py

clean:
	rm -rf $(VENV) .pipelines
