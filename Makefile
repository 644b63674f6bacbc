# im2hands-lite -- the two user commands are `make run` and `make test`.
# Both first create ./.venv and install the kit into it (the `venv` step).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
KERNEL := python3

# torch is installed first, pinned, and only when the venv has none: pyproject.toml
# only gives a lower bound, which would otherwise pull the newest (CUDA) build.
# Override e.g. with TORCH_PIP_ARGS="--index-url <a CPU wheel index>". See docs/DECISIONS.md.
TORCH_SPEC     ?= torch==2.13.0
TORCH_PIP_ARGS ?=

# Notebooks save their artefacts here (they run with cwd=notebooks/, so ../outputs is the same place).
OUTPUTS := $(CURDIR)/outputs
export IM2HANDS_OUTPUTS := $(OUTPUTS)

PAPERMILL_FLAGS := -k $(KERNEL) --language python --cwd notebooks -p PROFILE fast $(if $(CI),--no-progress-bar)
PYTEST_FLAGS    := -q -p no:cacheprovider --nbval-lax --nbval-current-env
# git does not keep an empty notebooks/, so only pass it to pytest when it exists.
PYTEST_PATHS    := tests $(wildcard notebooks)

.PHONY: help venv run results lint test student weights clean distclean

help:
	@echo "im2hands-lite"
	@echo ""
	@echo "  make run        run every notebooks/[0-9]*.ipynb in order with PROFILE=fast;"
	@echo "                  executed notebooks, meshes, tables and figures go to outputs/,"
	@echo "                  all linked from outputs/index.html (open it in a browser)"
	@echo "  make test       run the tests in tests/ and execute the notebooks (pytest + nbval)"
	@echo "  make lint       ruff over the package, tests, scripts and benchmarks"
	@echo "  make weights    retrain every shipped checkpoint (im2hands ship all; hours on a CPU)"
	@echo "  make results    list what is in outputs/"
	@echo "  make student    write student versions of the notebooks (solutions stubbed out)"
	@echo "                  to build/student/"
	@echo "  make clean      remove outputs/ and caches (keeps .venv)"
	@echo "  make distclean  clean, and remove .venv"
	@echo ""
	@echo "run and test first create .venv with '$(PYTHON) -m venv' and install the kit into it."

venv: $(STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x $(PY) ]; then echo "==> creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); fi
	@$(PIP) install -q --upgrade pip
	@if ! $(PY) -c "import torch" 2>/dev/null; then \
	    echo "==> installing $(TORCH_SPEC)"; \
	    $(PIP) install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"; \
	fi
	@echo "==> installing im2hands_lite[dev,lab] into $(VENV) (editable)"
	@$(PIP) install -q -e ".[dev,lab]"
	@$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3 (im2hands-lite)" >/dev/null
	@touch $@

# headless: the notebooks' explorers draw their first view instead of making widgets (apps/explorer.py)
run: export IM2HANDS_HEADLESS := 1
run: venv
	@shopt -s nullglob; nbs=(notebooks/[0-9]*.ipynb); \
	if [ $${#nbs[@]} -eq 0 ]; then echo "make run: no notebooks/[0-9]*.ipynb to run." >&2; exit 1; fi; \
	mkdir -p "$(OUTPUTS)"; \
	for nb in "$${nbs[@]}"; do \
	    out="outputs/$$(basename "$$nb")"; \
	    echo "==> $$nb"; \
	    if ! $(VENV)/bin/papermill "$$nb" "$$out" $(PAPERMILL_FLAGS); then \
	        echo "" >&2; \
	        echo "make run: FAILED in $$nb (error above); the partly executed copy, if any, is $$out." >&2; \
	        echo "make run: stopped; the notebooks after it were not run." >&2; \
	        exit 1; \
	    fi; \
	done
	@$(VENV)/bin/im2hands report "$(OUTPUTS)" --source notebooks $(if $(CI),--quiet)
	@$(MAKE) --no-print-directory results

results:
	@if [ ! -d "$(OUTPUTS)" ]; then echo "outputs/ does not exist yet: run 'make run'."; exit 0; fi
	@echo ""
	@echo "Results are in outputs/ (executed notebooks and the files they wrote):"
	@cd "$(OUTPUTS)" && find . -type f -not -path '*/.*' | sed 's|^\./||' | LC_ALL=C sort | \
	while IFS= read -r f; do \
	    case "$$f" in \
	        *.ipynb) kind="notebook" ;; \
	        *.ply|*.obj|*.stl|*.glb|*.off) kind="mesh" ;; \
	        *.csv|*.md|*.json|*.tsv) kind="table" ;; \
	        *.html) kind="page" ;; \
	        *.png|*.jpg|*.jpeg|*.svg|*.pdf|*.gif|*.mp4) kind="figure" ;; \
	        *) kind="other" ;; \
	    esac; \
	    printf '  %-9s outputs/%s\n' "$$kind" "$$f"; \
	done
	@if [ -f "$(OUTPUTS)/index.html" ]; then echo ""; echo "Open outputs/index.html in a browser: every notebook with its figures, and the tables."; fi

# Agg for tests only: for `make run` the kernel's inline backend must stay, so
# the executed notebooks in outputs/ keep their figures.
test: export MPLBACKEND := Agg
test: venv
	@mkdir -p "$(OUTPUTS)"
	@rc=0; $(PY) -m pytest $(PYTEST_PATHS) $(PYTEST_FLAGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests; treating that as a failure." >&2; exit 1; fi; \
	exit $$rc

lint: venv
	@$(VENV)/bin/ruff check im2hands_lite tests scripts benchmarks

# every shipped fast-profile checkpoint, through the one trainer (resumable: rerun after a stop)
weights: venv
	@$(VENV)/bin/im2hands ship all

# Student versions go to build/ (git-ignored, removed by `make clean`), outside the paths
# `make test` collects, so nbval never runs their deliberately failing exercise checks.
student: venv
	@$(PY) scripts/make_student_notebooks.py --out build/student

clean:
	rm -rf outputs .pytest_cache build dist *.egg-info
	find . -path ./.venv -prune -o -path ./.git -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints \) -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
