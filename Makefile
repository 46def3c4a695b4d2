# One-command set-up: `make demo` and `make test` create .venv when missing and (re)install
# only when pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-fast lab bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# The main job on the embedded dataset: generate and summarise it, train the default method
# (resumes, so a finished run is not retrained), then evaluate best.pt per class.
DEMO := runs/demo
demo: $(STAMP)
	$(BIN)/python -m mlrkit generate --root data/digits
	$(BIN)/python -m mlrkit train --preset digits --out $(DEMO)/digits $(if $(wildcard $(DEMO)/digits/config.json),--resume)
	$(BIN)/python -m mlrkit evaluate $(DEMO)/digits --per-class > $(DEMO)/per_class.txt
	@cat $(DEMO)/per_class.txt
	$(BIN)/python -m mlrkit predict $(DEMO)/digits --out $(DEMO)/val_scores.csv

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
