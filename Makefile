# The README's two commands: `make rehearse` (set up, then a full rehearsal on a throwaway local Redis)
# and `make test` (set up, then lint and the test suite). `make check` is the fast loop: lint and the pure tests.
VENV ?= .venv
PY := $(VENV)/bin/python
COUNT ?= 100000
# the rehearsal's report is a run's output, not a tracked file
REPORT ?= runbook-output/rehearsal-report.json

.PHONY: setup bytecode rehearse check test bench bench-recovery outage clean

$(VENV)/.installed: pyproject.toml
	@bash deployments/setup.sh "$(VENV)"
	@touch $@

setup: $(VENV)/.installed

# Our modules compiled ahead: where PYTHONDONTWRITEBYTECODE is set (as on our machines) every process compiled its
# ~120 of them at its start, 0.1 s of each om-runbook command and test subprocess; compileall redoes what changed
bytecode: setup
	@$(PY) -m compileall -q flows tasks migrations >/dev/null

rehearse: bytecode
	@mkdir -p $(dir $(REPORT))
	$(VENV)/bin/om-runbook rehearse --count $(COUNT) --report-json $(REPORT) --archive-dir $(dir $(REPORT))rehearsal-archive

check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -m "not servers and not browser and not slow"

test: bytecode
	@bash deployments/setup-browser.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -n 3 --dist loadgroup --durations=25

bench: bytecode
	$(PY) tests/benchmarks/migrate_benchmark.py --count 100000 --count 1000000

bench-recovery: bytecode
	$(PY) tests/benchmarks/recovery_benchmark.py --count 100000

outage: bytecode
	$(PY) tests/benchmarks/query_outage.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build runbook-output *.egg-info
