# Every target bootstraps .venv from requirements.txt when it is missing or stale.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.sha256
SUBMISSION ?= assignments
ASSIGNMENTS ?=
GRADE_ARGS ?=

.PHONY: venv grade test bench lint release student-repo train-reference

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

# The course repository lints everything; a student repository (no solutions/) only checks
# its setup, so a student's unfinished code never fails `make test`.
test: venv
	@if [ -d solutions ]; then $(PY) -m ruff check .; fi
	$(PY) -m pytest

# Instructors: assignments/ from solutions/ (nbgrader), then the repository students receive.
release: venv
	$(PY) -m autograder release $(ASSIGNMENTS)

student-repo: venv
	@test -n "$(DEST)" || { echo "usage: make student-repo DEST=path/to/new/folder"; exit 2; }
	$(PY) -m autograder student-repo "$(DEST)"

bench: venv
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: venv
	$(PY) -m ruff check .

# The CIFAR-10 reference of assignment 04: trains on the CPU (about half an hour), writes
# solutions/04_cifar10_challenge/submission/model.keras and TRAINING.md.
train-reference: venv
	$(PY) solutions/04_cifar10_challenge/train_reference.py --seed 0
