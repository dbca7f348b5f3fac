# Two commands a newcomer needs: `make demo` and `make test`. Everything else is here too.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test test-slow lint format bench services triton-local clean

$(STAMP): pyproject.toml scripts/install.sh
	bash scripts/install.sh $(VENV)

install: $(STAMP)

services:
	bash scripts/services.sh

test: install services
	$(PY) -m pytest $(PYTEST_ARGS)

# The 3-hour lectures (mp3, m4a, WAV): about 30 minutes on 2 cores.
test-slow: install services
	$(PY) -m pytest -m lecture_hours tests/reliability/test_long_lecture_slow.py $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy worker inference triton_models demo bench

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: install
	$(PY) -m demo

bench: install services
	$(PY) -m bench

triton-local: install
	bash scripts/triton_local.sh

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
