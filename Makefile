# The commands the README names. `make setup` once, then `make demo` or `make test`.
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo test test-linear test-unit lint bench lab-down clean

setup:  ## Debian packages, virtualenv, Python deps (run as root)
	bash scripts/setup.sh

demo:  ## Bring up the lab for the demo book and show what pbxops would do
	bash scripts/demo.sh

test:  ## The whole test suite (root): unit, CLI, lint and lab tests; the lab tests again under linear
	$(BIN)/pytest -q -p no:cacheprovider tests
	$(MAKE) --no-print-directory test-linear

test-linear:  ## Only the lab tests, under the linear strategy (the default is Mitogen)
	PBXOPS_STRATEGY=linear $(BIN)/pytest -q -p no:cacheprovider -m lab tests/lab

test-unit:  ## Only the tests that need no lab
	$(BIN)/pytest -q -m "not lab" tests

lint:  ## The CI check of playbooks, roles, templates and the book
	$(BIN)/pbxops lint

bench:  ## All benchmarks; writes bench/RESULTS.md
	$(BIN)/python bench/run_all.py

lab-down:  ## Tear the lab down
	$(BIN)/pbxops lab down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
