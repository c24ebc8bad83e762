# newsrag: `make chat` opens the web chat, `make test` runs the tests.
# Both install everything first into ./.venv (once; again when pyproject.toml changes).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Installed before anything else: the CPU build. Letting sentence-transformers pull
# torch in would fetch a CUDA build of several GB.
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=
SERVE_ARGS ?=
INGEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install chat test ingest clean distclean

help:
	@echo "make chat        install (once), then start the web chat on http://127.0.0.1:7860"
	@echo "                 (SERVE_ARGS='--port 8080' to pass options to rag serve)"
	@echo "make test        install (once), then run the tests (PYTEST_ARGS='-k cli -x')"
	@echo "make ingest      install (once), then build or update the index (INGEST_ARGS='--rebuild')"
	@echo "make install     create $(VENV) and install the project with its test extras"
	@echo "make clean       delete the built index (index/), keeping the virtualenv"
	@echo "make distclean   clean, and delete $(VENV) too"

install: $(VENV)/.installed

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(TORCH)
	$(BIN)/pip install -e '.[test]'
	touch $@

chat: install
	$(BIN)/rag serve $(SERVE_ARGS)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

ingest: install
	$(BIN)/rag ingest $(INGEST_ARGS)

# The index folder itself and its README stay; everything built in it goes.
clean:
	if [ -d index ]; then find index -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +; fi

distclean: clean
	rm -rf $(VENV)
