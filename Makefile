# The README's two commands: `make rehearse` (set up, then a full rehearsal on a throwaway local Redis)
# and `make test` (set up, then lint and the test suite).
VENV ?= .venv
PY := $(VENV)/bin/python
COUNT ?= 100000

.PHONY: setup rehearse test bench outage clean

$(VENV)/.installed: pyproject.toml
	@bash deployments/setup.sh "$(VENV)"
	@touch $@

setup: $(VENV)/.installed

rehearse: setup
	$(VENV)/bin/om-runbook rehearse --count $(COUNT) --report-json rehearsal-report.json

test: setup
	@bash deployments/setup-browser.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -n 2 --dist loadgroup

bench: setup
	$(PY) tests/benchmarks/migrate_benchmark.py --count 100000 --count 1000000

outage: setup
	$(PY) tests/benchmarks/query_outage.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
