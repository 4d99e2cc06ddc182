# Set-up for the sockcourse course: `make lab` to learn, `make test` to check.
#
# Everything is installed into .venv beside this file and nowhere else, so the
# commands work where the system Python refuses global installs (PEP 668).
# Written for GNU make 3.81 and newer (macOS still ships 3.81), so no
# .ONESHELL, no $(file ...) and no other newer features.

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
PIP := $(VENV_PYTHON) -m pip
LAB_ARGS ?=
PYTEST_ARGS ?=

# Stamps remember which install last ran; each is older than pyproject.toml
# only when the dependency list changed, which is the one reason to re-install.
LAB_STAMP := $(VENV)/.sockcourse-lab-installed
TEST_STAMP := $(VENV)/.sockcourse-test-installed

# JupyterLab applies the settings overrides it finds in its application directory, which for the
# venv's JupyterLab lies inside .venv. The course's file (jupyterlab-settings/overrides.json) turns
# off what would reach out to the internet: the news feed, the update check, the extension manager.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

# Jupyter refuses to run as root unless told; containers often run as root.
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: help lab test notebooks student solutions grade clean

help:
	@echo "make lab        set up .venv and open the course in JupyterLab (extra flags: LAB_ARGS=...)"
	@echo "make test       set up .venv with the test tools and run every test (extra flags: PYTEST_ARGS=...)"
	@echo "make notebooks  re-execute every notebook in place after editing it"
	@echo "make student    rebuild the homework's student copies in notebooks/homework from homework-source"
	@echo "make solutions  build the executed solutions in build/solutions (fails unless each scores full marks)"
	@echo "make grade SUBMISSIONS=dir [OUT=grades.csv]   grade a folder of submitted homework notebooks"
	@echo "make clean      remove .venv and the caches"
	@echo "make help       show this list"
	@echo "Use another interpreter with PYTHON=..., for example: make lab PYTHON=python3.12"

# The venv's bin comes first on PATH, so that JupyterLab's own terminal finds the course's python
# (`python -m sockcourse ...` in a notebook's instructions), not the system's.
lab: $(LAB_STAMP) $(LAB_SETTINGS)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 $(ALLOW_ROOT) $(LAB_ARGS)

test: $(TEST_STAMP) $(LAB_SETTINGS)
	$(VENV_PYTHON) -m pytest $(PYTEST_ARGS)

notebooks: $(TEST_STAMP)
	$(VENV_PYTHON) tools/run_notebooks.py

student: $(TEST_STAMP)
	$(VENV_PYTHON) -m sockcourse assign homework-source --student notebooks/homework

solutions: $(TEST_STAMP)
	$(VENV_PYTHON) -m sockcourse assign homework-source --solutions build/solutions --jobs 2

OUT ?= grades.csv
grade: $(TEST_STAMP)
	@[ -n "$(SUBMISSIONS)" ] || { echo "Name the folder of submitted notebooks: make grade SUBMISSIONS=path/to/folder" >&2; exit 2; }
	$(VENV_PYTHON) -m sockcourse grade "$(SUBMISSIONS)" --out "$(OUT)"

# The checks come before `venv` because its own failures are cryptic: an old
# Python fails late with a syntax error, and Debian without python3-venv
# leaves a half-made .venv that has no pip.
$(VENV_PYTHON):
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "No Python was found under the name '$(PYTHON)'; the course needs Python 3.10 or newer. Install one, or name it with: make $(firstword $(MAKECMDGOALS) lab) PYTHON=/path/to/python3" >&2; \
	  exit 1; }
	@version=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])') || version=unknown; \
	major=$${version%%.*}; minor=$${version#*.}; \
	if [ "$$version" = unknown ] || [ "$$major" -lt 3 ] || { [ "$$major" -eq 3 ] && [ "$$minor" -lt 10 ]; }; then \
	  echo "'$(PYTHON)' is Python $$version, but the course needs Python 3.10 or newer. Install a newer one and name it, for example: make $(firstword $(MAKECMDGOALS) lab) PYTHON=python3.11" >&2; \
	  exit 1; \
	fi; \
	echo "Creating $(VENV) with $(PYTHON) (Python $$version)."; \
	$(PYTHON) -m venv $(VENV) || { \
	  rm -rf $(VENV); \
	  echo "'$(PYTHON) -m venv' could not create $(VENV), so nothing was installed. On Debian or Ubuntu install the venv module first (sudo apt install python3-venv, or python$$version-venv for a Python that is not the system's default) and run make again." >&2; \
	  exit 1; }
	$(PIP) install --quiet --disable-pip-version-check --upgrade pip

# The first install is quiet for a minute or more (pip --quiet), so say so before it starts.
$(LAB_STAMP): pyproject.toml $(VENV_PYTHON)
	@echo "Installing the course and its libraries into $(VENV): about 450 MB, a minute or more the first time, with no output until it is done."
	$(PIP) install --quiet --disable-pip-version-check -e .
	touch $@

# The test extras include everything `lab` needs, so this install counts for
# both and a `make lab` after `make test` starts at once.
# Three programs from Debian that pip cannot bring, each one's test skipping with a sentence where
# it is missing (and failing under CI=true where CI needs it):
# - chromium: the browser tests (tests/test_browser.py) drive the system's Chromium through
#   Playwright, never a browser download (Ubuntu has only a snap, which Playwright cannot drive);
# - iperf3 and sockperf: the yardsticks `python -m sockcourse bench` measures the course against.
# As root on Debian the missing ones are installed; elsewhere README says what to install.
DEBIAN_PACKAGES := chromium iperf3 sockperf
$(TEST_STAMP): pyproject.toml $(VENV_PYTHON)
	@echo "Installing the course, its libraries and its test tools into $(VENV): about 620 MB, a minute or more the first time, with no output until it is done."
	$(PIP) install --quiet --disable-pip-version-check -e '.[test]'
	@missing=""; for program in $(DEBIAN_PACKAGES); do command -v $$program >/dev/null 2>&1 || missing="$$missing $$program"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && grep -qs '^ID=debian' /etc/os-release && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's packages$$missing for the browser tests and the benchmark's yardsticks."; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1 || \
	  { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; } || \
	  echo "Debian's packages$$missing could not be installed, so the tests that need them will skip (and the browser tests fail under CI=true)." >&2; \
	fi
	touch $@ $(LAB_STAMP)

# Copied again whenever the course's file is newer; $(wildcard) keeps `make -n` working in a
# bare copy of the Makefile, where the file is absent.
$(LAB_SETTINGS): $(wildcard jupyterlab-settings/overrides.json) | $(VENV_PYTHON)
	mkdir -p $(@D)
	cp jupyterlab-settings/overrides.json $@

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +
