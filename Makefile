# Tailor — every target installs what it needs into .venv from this repository's own files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := examples/crm

.PHONY: demo test bench lint install clean browser

ASSETS := node_modules/.installed
CATALOGS := $(patsubst %.po,%.mo,$(wildcard engine/web/translations/*/LC_MESSAGES/messages.po))

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

# front-end files come from the npm registry, pinned by package-lock.json
$(ASSETS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(ASSETS)

# compiled message catalogues (Chinese UI text) from the .po files in the repository
%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@

install: $(STAMP) $(ASSETS) $(CATALOGS)

# browser tests drive Debian's chromium (never a browser Playwright downloads); CJK fonts
# make the Chinese screenshots readable
browser:
	@command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto sans cjk" || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

# the demo encrypts contacts' mobile numbers: its key lives beside its database (instance/ is
# never committed nor backed up); a real installation keeps its key elsewhere (docs/security.md)
KEY_FILE := $(DEMO)/instance/encryption.key
demo bench: export TAILOR_ENCRYPTION_KEY_FILE ?= $(abspath $(KEY_FILE))

$(KEY_FILE): | $(STAMP)
	mkdir -p $(dir $@)
	umask 077 && $(BIN)/tailor keys generate > $@

## make demo: check, migrate and fill the demo CRM (examples/crm/instance/tailor.sqlite), then serve it
## (on another port when 5000 is taken: make demo PORT=5050)
PORT ?= 5000
demo: install $(KEY_FILE)
	$(BIN)/tailor check examples/trade
	$(BIN)/tailor check $(DEMO)
	$(BIN)/tailor migrate $(DEMO)
	$(BIN)/tailor demo-data $(DEMO)
	@echo
	@echo "Sign in at http://127.0.0.1:$(PORT) as admin / demo-admin-1, or with password demo-pass-1 as wang.lei (sales rep), zhao.min (sales manager: approvals waiting), chen.jie (sales director), liu.yang (service), sun.li (finance) or david.wu (marketing): see docs/permissions.md and docs/workflows.md"
	@echo "(other demo users: examples/crm/demo/00_users.yaml). Stop with Ctrl-C."
	$(BIN)/tailor serve $(DEMO) --port $(PORT)

## make test: the whole suite (SQLite always; PostgreSQL too when TAILOR_TEST_DATABASE_URL is set)
test: install browser
	$(BIN)/ruff check engine tests plugins bench
	$(BIN)/pytest -q -p no:cacheprovider -n 2  # two processes: the machine has two cores

## make bench: performance figures and ratios against baselines measured in the same run
bench: install $(KEY_FILE)
	$(BIN)/python bench/run.py
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python bench/web.py
	$(BIN)/python bench/flows.py
	$(BIN)/python bench/design.py
	$(BIN)/python bench/imports.py
	$(BIN)/python bench/reports.py

lint: $(STAMP)
	$(BIN)/ruff check engine tests plugins bench

clean:
	rm -rf $(VENV) node_modules examples/*/instance .pytest_cache .hypothesis
