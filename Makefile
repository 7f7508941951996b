# Two entry points for a fresh machine: `make demo` (the main job) and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock

.PHONY: setup demo test test-fast lint bench redis browser lock

setup: $(STAMP)

# Every version pinned by the lock file. torch first: pip then takes the CPU wheel that lies on this disk instead
# of a multi-GB CUDA build. The OpenCV shim next, so insightface's `opencv-python` requirement resolves to the one
# headless build. Then the project with every extra (a user may install fewer: see the README).
$(STAMP): pyproject.toml $(LOCK) packaging/opencv-python-shim/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c $(LOCK) torch
	$(BIN)/pip install -q ./packaging/opencv-python-shim
	$(BIN)/pip install -q -c $(LOCK) -e '.[all]'
	$(BIN)/pip check
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vcn demo

lint: $(STAMP)
	$(BIN)/ruff check .

# tests/test_celery.py starts its own Redis server as the Celery broker: Debian's package, installed when missing.
redis:
	command -v redis-server >/dev/null || (apt-get update -q && apt-get install -y -q redis-server)

# tests/test_review.py drives Debian's Chromium through its chromedriver: installed when missing.
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -q && apt-get install -y -q chromium chromium-driver)

test: $(STAMP) redis browser lint
	$(BIN)/python -m pytest -q

# The fast tier: library functions, sensors, assets on a tiny clip; under a minute.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python bench/bench_pipeline.py

# Pin what is installed now (after changing pyproject.toml's ranges and installing).
lock: $(STAMP)
	{ sed -n '1,3p' $(LOCK); $(BIN)/pip freeze --exclude-editable | grep -v '^opencv-python[ =@]' | sed 's/+cpu$$//'; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
