# Two entry points for a fresh machine: `make demo` (the main job) and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench redis

setup: $(STAMP)

# torch first, pinned: pip takes the CPU wheel that lies on this disk instead of a multi-GB CUDA build.
# The OpenCV shim next, so insightface's `opencv-python` requirement resolves to the one headless build.
$(STAMP): pyproject.toml packaging/opencv-python-shim/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q ./packaging/opencv-python-shim
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip check
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vcn demo

lint: $(STAMP)
	$(BIN)/ruff check .

# tests/test_celery.py starts its own Redis server as the Celery broker: Debian's package, installed when missing.
redis:
	command -v redis-server >/dev/null || (apt-get update -q && apt-get install -y -q redis-server)

test: $(STAMP) redis lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bench_pipeline.py
