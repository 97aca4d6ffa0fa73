# Tailor — every target installs what it needs into .venv from this repository's own files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := examples/crm

.PHONY: demo test bench lint install clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## make demo: check and migrate the demo CRM into instance/tailor.sqlite, load demo data
demo: $(STAMP)
	$(BIN)/tailor check $(DEMO)
	$(BIN)/tailor migrate $(DEMO)
	$(BIN)/tailor demo-data $(DEMO)
	$(BIN)/tailor check examples/trade

## make test: the whole suite (SQLite always; PostgreSQL too when TAILOR_TEST_DATABASE_URL is set)
test: $(STAMP)
	$(BIN)/ruff check engine tests plugins bench
	$(BIN)/pytest -q -p no:cacheprovider

## make bench: performance figures and ratios against baselines measured in the same run
bench: $(STAMP)
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/ruff check engine tests plugins bench

clean:
	rm -rf $(VENV) examples/*/instance .pytest_cache .hypothesis
