# Every target creates .venv on a fresh machine and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lock demo test test-all bench lint clean

# constraints.txt pins every package (figures from session 22 on were measured with it).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# After changing pyproject.toml's dependencies: install without the pins, then record them.
lock:
	rm -rf $(VENV)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	grep '^#' constraints.txt > constraints.new
	$(BIN)/pip freeze --exclude-editable | sed 's/+cpu$$//' >> constraints.new
	mv constraints.new constraints.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/steward demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two workers, whole files each (module fixtures stay whole): the suite waits on subprocesses,
# servers and disk as much as it computes. Here: 7.0 min of pytest on two workers, 8.5-14 min
# on one in earlier runs (make test-all stays on one).
test: lint
	$(BIN)/pytest -q -n 2 --dist loadfile

test-all: lint
	$(BIN)/pytest -q -m ''

bench: $(STAMP)
	$(BIN)/python -m bench.features --repeat 3
	$(BIN)/python -m bench.churn
	$(BIN)/python -m bench.toxicity
	$(BIN)/python -m bench.toxicity_spans
	$(BIN)/python -m bench.languages
	$(BIN)/python -m bench.serving
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) .steward .pytest_cache .mypy_cache .ruff_cache
