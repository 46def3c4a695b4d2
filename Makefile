# One-command set-up: `make demo` and `make test` create .venv when missing and (re)install
# only when pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo ablation audit-bench test test-fast lab bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# The main job on the embedded dataset: train (or reuse) the baseline and the method, execute
# notebooks 01-06 in order, and write runs/demo/{notebooks,figures,results.md}.
demo: $(STAMP)
	$(BIN)/python -m mlrkit demo --out runs/demo

# The loss ablation (36 runs + 3 of the lambda sweep, 81 minutes of training on 2 CPU cores; resumable:
# finished runs are reused). Writes runs/ablation/{results.csv,summary.csv,paired.csv,lambda.csv,ablation.png}.
ablation: $(STAMP)
	$(BIN)/python -m mlrkit ablation --out runs/ablation --presets digits-hard digits --lambdas 0.1 0.5 1 2

# The audit benchmark (planted label errors at 5 % and 10 % x bce, asl, variant A, SADCL x 3
# seeds on digits: 30 runs, 48 minutes on 2 CPU cores; resumable). Writes
# runs/audit-bench/{results.csv,summary.csv,audit_bench.png}.
audit-bench: $(STAMP)
	$(BIN)/python -m mlrkit audit-bench --out runs/audit-bench

test: $(STAMP)
	$(BIN)/python -m pytest

# Everything but the tests marked slow (multi-process and crash tests): a quick check while editing.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lab: $(STAMP)
	$(BIN)/jupyter lab

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check mlrkit tests benchmarks

clean:
	rm -rf $(VENV) runs
