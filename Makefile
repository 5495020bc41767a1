# tumor-detect: the README's two commands are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
export TUMOR_DETECT_HOME ?= $(CURDIR)

.PHONY: install demo test test-fast test-slow sync-check lint docs notebooks notebook-check readme bench clean help
help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(STAMP): settings.ini setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip check
	touch $@

install: $(STAMP)  ## create .venv if missing and install the project with dev tools

demo: install  ## the main job on the bundled real sample, then serve the app on http://127.0.0.1:7860
	$(BIN)/tumor-detect demo
	$(BIN)/tumor-detect serve --host 127.0.0.1 --port 7860

sync-check: install  ## notebooks and library in sync; nbdev_clean leaves notebooks unchanged
	@before="$$(git status --porcelain)"; $(BIN)/nbdev_export; $(BIN)/nbdev_clean; \
	after="$$(git status --porcelain)"; \
	if [ "$$before" != "$$after" ]; then echo "nbdev_export/nbdev_clean changed the tree:"; \
	  diff <(echo "$$before") <(echo "$$after"); git diff --stat; exit 1; fi; echo "notebooks and library in sync"
	$(PY) tools/make_readme.py --check

readme: install  ## regenerate README.md from nbs/index.ipynb
	$(PY) tools/make_readme.py

lint: install  ## ruff over the library, notebooks, tests, tools, benchmarks and deploy scripts
	$(BIN)/ruff check tumor_detect nbs tests tools benchmarks deploy

docs: install  ## the docs step before Quarto: process notebooks, check sidebar and links; HTML preview in _docs/ (Quarto renders online)
	$(PY) tests/check_docs.py
	$(PY) tools/docs_preview.py

test-fast: install  ## notebooks (fast cells) and pytest without the tests marked slow
	$(BIN)/nbdev_test --n_workers 2 --timing
	$(BIN)/pytest -q -m "not slow" tests

test: sync-check lint docs test-fast notebook-check  ## every check CI runs (docs before pytest: its docs browser test reuses _docs/)

test-slow: install  ## what test-fast leaves out: slow notebook cells (real data, full sweeps) and slow pytest (training jobs, pipeline, GCS, full browser sessions)
	$(BIN)/nbdev_test --n_workers 1 --flags slow --timing
	$(BIN)/pytest -q -m slow tests

notebook-check: install  ## committed notebooks carry outputs (figures in 04-07), no machine paths, no progress bars
	$(PY) tests/check_notebooks.py

NB_WORKERS ?= 1
notebooks: install  ## execute every notebook in place with outputs kept (fresh kernel each, fixed seeds, scrubbed); ONLY=04_evaluate for one
	$(PY) tools/run_notebooks.py --workers $(NB_WORKERS) $(foreach n,$(ONLY),--only $(n))

bench: install  ## inference benchmark: raw ultralytics vs Detector (PyTorch, ONNX Runtime), ratios printed
	$(PY) benchmarks/bench_predict.py

clean:  ## remove caches and generated docs (keeps .venv, data/, runs/)
	rm -rf _docs _proc nbs/_proc .pytest_cache .ruff_cache
