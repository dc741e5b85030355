# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
# `make demo` needs only the runtime, with the FHIR and CDS Hooks extras every documented
# command uses, not the dev toolchain (mypy, ruff, schemathesis, mkdocs …): its own stamp
RUNTIME := $(VENV)/.installed-runtime

.PHONY: demo test lint typecheck unit ruletests bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Editable like the dev install, so neither replaces the other's labrecog: a venv made by
# `make demo` gets the dev extras from `make test`, and one made by `make test` (whose
# fresh stamp already covers the runtime) is left as it is by `make demo`.
$(RUNTIME): pyproject.toml | $(BIN)/python
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ]; then :; else \
		echo "$(BIN)/python -m pip install -q -e '.[fhir,server]'"; \
		$(BIN)/python -m pip install -q -e '.[fhir,server]' || exit $$?; fi
	touch $(RUNTIME)

# Generated batches of the shipped rule sets (examples/generate.py): one per rule set.
BATCHES := cn-reference uk-mri us-retest

# The example batch holds three deliberately bad lines: exit 1 ("some records were
# errors, all still written") is the expected outcome, and 0 would do; anything else
# (2 usage, 3 internal failure, 130, 141) is a failure, reported with its own code.
# The generated batches have no bad lines: anything but exit 0 is a failure.
demo: $(RUNTIME)
	@$(BIN)/labrecog evaluate examples/cases.jsonl --rules rules/demo \
		-o examples/decisions.jsonl; rc=$$?; \
		if [ $$rc -ne 0 ] && [ $$rc -ne 1 ]; then \
			echo "make demo: labrecog evaluate exited $$rc" >&2; exit $$rc; fi
	@echo "decisions: examples/decisions.jsonl (3 error records are intended: nothing is lost)"
	@mkdir -p examples/out
	@for b in $(BATCHES); do \
		echo; echo "labrecog evaluate examples/$$b.jsonl.gz --rules rules/$$b"; \
		$(BIN)/labrecog evaluate examples/$$b.jsonl.gz --rules rules/$$b \
			-o examples/out/$$b.decisions.jsonl || exit $$?; \
		echo "decisions: examples/out/$$b.decisions.jsonl"; \
	done

test: lint typecheck unit ruletests docs

lint: $(STAMP)
	$(BIN)/ruff check labrecog tests bench examples docs/_mkdocs
	$(BIN)/ruff format --check labrecog tests bench examples docs/_mkdocs

typecheck: $(STAMP)
	$(BIN)/mypy labrecog

unit: $(STAMP)
	$(BIN)/python -m pytest -n 2

# Every shipped rule set's own tests, at full coverage of what it defines, and its lint:
# clean, with the findings it accepts listed under `lint: ignore:` with their reasons.
ruletests: $(STAMP)
	@for d in rules/*/; do \
		echo "labrecog test $$d"; \
		$(BIN)/labrecog test "$$d" --coverage --fail-under 100 || exit 1; \
		echo "labrecog lint $$d -q"; \
		$(BIN)/labrecog lint "$$d" -q || exit 1; \
	done

# The documentation site (mkdocs.yml) into site/; --strict: any warning (a page left out
# of the nav, a broken link or anchor, a docstring mkdocstrings cannot read) fails it.
# Not --quiet: it hides the warnings from --strict as well, and the build passes.
.PHONY: docs
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python bench/bench_engine.py
	$(BIN)/python bench/bench_json.py
	@for b in $(BATCHES); do \
		echo; echo "bench_engine.py --cases examples/$$b.jsonl.gz --rules rules/$$b"; \
		$(BIN)/python bench/bench_engine.py --cases examples/$$b.jsonl.gz --rules rules/$$b \
			|| exit $$?; \
	done
	@echo; echo "bench_cli.py (labrecog evaluate against a parse-only pass, --jobs 2, memory)"
	$(BIN)/python bench/bench_cli.py
	@echo; echo "bench_dask.py (Dask LocalCluster(2 workers) against --jobs 2: issue 20's figures)"
	$(BIN)/python bench/bench_dask.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
