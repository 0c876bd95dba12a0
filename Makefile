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
	@# The local server's database template (stack/database.py: Prefect migrates it once, 20-50 s
	@# here), so the first `pipelines up` copies it; if this fails, that first start builds it.
	$(BIN)/python -c 'from pipelines.framework.stack.server import prepare_template; prepare_template()' \
	  || echo "warning: the server's database template was not built; the first pipelines up builds it"
	touch $(STAMP)

# The repository's own modules too (only what changed since): the CLI imports them on every call.
install: $(STAMP)
	$(BIN)/python -m compileall -q pipelines

up: install
	$(BIN)/pipelines up

test: install
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not e2e and not component"

lint: install
	$(BIN)/pre-commit run --all-files

# Every benchmark of benchmarks/README.md, one after another, each printing its table; one that
# fails does not stop the others, and the target fails at the end naming it. One that needs what
# this machine lacks (PostgreSQL at 127.0.0.1:5432) says what it skipped. The whole takes 30 to 45
# minutes on a quiet 2-core machine (scheduling.py alone waits out 40 runs due 10 s apart);
# `make bench QUICK=1` runs every one on small inputs (under 10 minutes: they work, the figures
# are not the ones BENCHMARKS.md quotes); `make bench ONLY="cli compat"` runs some.
BENCHMARKS := cli registration local_run stack scheduling dumps dump_tables compat
ONLY ?= $(BENCHMARKS)
QUICK_cli := --runs 1
QUICK_registration := --flows 20
QUICK_local_run := --runs 1 --n-users 10
QUICK_stack := --runs 1
QUICK_scheduling := --runs 3 --rounds 1 --spacing 5 --lead 20
QUICK_dumps := --rows 200000
QUICK_dump_tables := --tables 4 --rows 20000 --runs 1
QUICK_compat := --tasks 20 --runs 1
# The dumps' flow-against-data-path ratio compares two 4-6 s processes, whose times vary by
# a fifth from one run to the next here: a median of 5 rounds.
FULL_dumps := --runs 5
_bench_args = $(if $(QUICK),$(QUICK_$(1)),$(FULL_$(1)))
_bench_run = echo "== benchmarks/$(1).py $(call _bench_args,$(1))"; \
	$(BIN)/python benchmarks/$(1).py $(call _bench_args,$(1)) || failed="$$failed $(1)";

bench: install
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e '.[dev,bench]'
	@failed=""; \
	$(foreach b,$(filter $(ONLY),$(BENCHMARKS)),$(call _bench_run,$(b))) \
	if [ -n "$$failed" ]; then echo "make bench: failed:$$failed" >&2; exit 1; fi

clean:
	rm -rf $(VENV) .pipelines
