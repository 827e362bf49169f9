# Every target bootstraps .venv from requirements.txt when it is missing or stale.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.sha256
SUBMISSION ?= assignments
ASSIGNMENTS ?=
GRADE_ARGS ?=

.PHONY: venv grade test bench lint

venv:
	@want=$$(sha256sum requirements.txt | cut -d' ' -f1); \
	have=$$(cat $(STAMP) 2>/dev/null || true); \
	if [ ! -x $(PY) ] || [ "$$want" != "$$have" ]; then \
		echo "Setting up $(VENV) from requirements.txt (first run takes a few minutes)..."; \
		rm -rf $(VENV) && $(PYTHON) -m venv $(VENV) && \
		$(PY) -m pip install --quiet --upgrade pip && \
		$(PY) -m pip install --quiet -r requirements.txt && \
		echo "$$want" > $(STAMP); \
	fi

grade: venv
	$(PY) -m autograder grade $(ASSIGNMENTS) --submission $(SUBMISSION) $(GRADE_ARGS)

test: venv
	$(PY) -m ruff check .
	$(PY) -m pytest

bench: venv
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: venv
	$(PY) -m ruff check .
