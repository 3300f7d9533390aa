# tillit: two commands on a fresh machine.
#   make run    install, initialise a demo data directory and start the whole product
#   make test   install and run every test
SHELL := /bin/bash
VENV ?= .venv
PORT ?= 8000
export TILLIT_DATA_DIR ?= $(CURDIR)/tillit-data
STAMP := $(VENV)/.installed

.PHONY: run test lint install messages clean

$(STAMP): pyproject.toml partner/pyproject.toml
	@py=$$(scripts/find-python) || exit 1; \
	  [ -x $(VENV)/bin/python ] || $$py -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip install --quiet -p $(VENV)/bin/python -e ./partner -e ".[test]" \
	  || $(VENV)/bin/python -m pip install --quiet -e ./partner -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/tillit run --demo --port $(PORT)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench partner
	$(VENV)/bin/ruff format --check src tests bench partner
	PYTHONPATH=. $(VENV)/bin/lint-imports --no-logo

# Test processes (pytest-xdist); each file runs in one of them. TEST_JOBS=0 runs in this one.
TEST_JOBS ?= 2

test: $(STAMP) lint
	$(VENV)/bin/python -m pytest -n $(TEST_JOBS) --dist loadfile --durations=15 $(PYTEST_ARGS)

messages: $(STAMP)
	cd src/tillit && ../../$(VENV)/bin/python -m tillit makemessages -l nb --no-location \
	  --ignore 'reference_partner/*'
	msgfmt --check -o src/tillit/locale/nb/LC_MESSAGES/django.mo \
	  src/tillit/locale/nb/LC_MESSAGES/django.po

clean:
	rm -rf $(VENV) tillit-data
