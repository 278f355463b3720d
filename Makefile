# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean browser

$(BIN)/valuation: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,dev,postgres]'
	touch $@

run: $(BIN)/valuation  ## install, train the demo model if none is registered, serve with gunicorn
	$(BIN)/valuation demo-model
	$(BIN)/valuation db upgrade
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: $(BIN)/valuation browser  ## install and run the whole test suite
	$(BIN)/pytest -q

browser:  ## Debian's Chromium (and a CJK font) for the console's browser tests
	@test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium fonts-wqy-zenhei) \
	  || echo "could not install chromium: the console's browser tests will be skipped"

bench: $(BIN)/valuation  ## the benchmark suite: benchmarks/results/latest.json and a table
	command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk) || echo "no wrk: HTTP targets skipped"
	$(BIN)/valuation demo-model
	$(BIN)/python benchmarks/suite.py

lint: $(BIN)/valuation
	$(BIN)/ruff check valuation strategies tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
