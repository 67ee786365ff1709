# Two set-up commands, each creating the virtual environment it needs:
#   make demo   installs bayes-dps and runs the offline default experiments (digits)
#   make test   installs bayes-dps with test tools, checks lint/format, runs the test suite
#   make docs   builds the documentation site into site/ (mkdocs build --strict)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install install-dev clean docs docs-pages docs-tables docs-figures gpu-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# pip's own progress is shown: the first install downloads PyTorch (several GB, minutes)
$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	@echo "installing bayes-dps and PyTorch into $(VENV) (the first time: a few minutes)"
	$(BIN)/python -m pip install --progress-bar off -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	@echo "installing the test tools and the optional stacks (open_clip, transformers, ...)"
	$(BIN)/python -m pip install --progress-bar off -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/bayes-dps demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# one PyTorch thread per test worker, one worker per core (measured: a thread pool slowed the
# suite's small models many times over on a busy 2-core machine)
test: lint
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n auto

$(VENV)/.installed-docs: $(VENV)/.installed
	$(BIN)/python -m pip install --progress-bar off -e '.[docs]'
	touch $@

# the generated pages: API reference (from __all__), config reference (from the schema), the
# results tables and values of README.md and docs/ (from the stored summaries in docs/results)
docs-pages: $(VENV)/.installed
	$(BIN)/python tools/docs_pages.py
docs-tables: docs-pages

# the performance page's scaling figures, drawn from the stored summaries in docs/results
docs-figures: $(VENV)/.installed
	$(BIN)/python tools/scaling_figures.py

# every cost benchmark on a GPU, stored beside the CPU runs (docs/results/*_cuda.json)
gpu-check: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run_all.py --device cuda --precision bf16-mixed --store

# the documentation site, built strictly (a broken link, a missing page or API name fails)
docs: $(VENV)/.installed-docs
	$(BIN)/python tools/docs_pages.py --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) runs site .pytest_cache .ruff_cache *.egg-info
