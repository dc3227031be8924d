# The README's two commands live here: `make demo` and `make test`. `make check` is the fast test
# loop (everything not marked slow); `make bench` runs benchmarks/; `make labextension` rebuilds the
# JupyterLab / Notebook 7 extension after labextension/ changed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
HEADLESS ?=
SRC    := freddy_magic tests benchmarks notebooks/run.py

.PHONY: test check demo bench chromium clean labextension

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip

# A stamp per extra, remade when pyproject.toml changes, or the built front-end extension, which an
# install (an editable one too) copies into the venv.
$(VENV)/.installed-test: pyproject.toml freddy_magic/labextension/package.json | $(VENV)/bin/python
	$(PIP) install -e '.[test]'
	touch $@

$(VENV)/.installed-demo: pyproject.toml freddy_magic/labextension/package.json | $(VENV)/bin/python
	$(PIP) install -e '.[demo]'
	touch $@

# Debian's chromium for the browser tests; only root can install it, others get a skip with a reason.
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium not installed and not root: browser tests will be skipped"; fi

# ruff (lint and format) and mypy run before the tests, so a style or type slip fails CI too.
lint: $(VENV)/.installed-test
	$(PY) -m ruff check $(SRC)
	$(PY) -m ruff format --check $(SRC)
	$(PY) -m mypy

# The suite runs against the sandbox's classic dialect, then its fast client and notebook tests run
# again against the current one (the sandbox's own tests, the SDK contract and the live check's
# tests, which plant shapes on the classic dialect and check the current one by name, cover both).
test: lint chromium
	$(PY) -m pytest
	$(PY) -m pytest -q -m "not slow" --dialect current --ignore=tests/sandbox --ignore=tests/test_contract_sdk.py \
		--ignore=tests/test_check.py

check: lint
	$(PY) -m pytest -m "not slow"

demo: $(VENV)/.installed-demo
ifeq ($(HEADLESS),)
	$(PY) notebooks/run.py lab
else
	$(PY) notebooks/run.py execute
endif

bench: $(VENV)/.installed-test
	$(PY) benchmarks/run.py

# The front-end extension is committed built (freddy_magic/labextension, shipped in the wheel), so
# installing the package needs no node. It is built against the venv's JupyterLab, whose staging
# package.json names the shared packages the app provides. The build empties its output folder, so
# install.json is copied in after it; source.sha256 records what it was built from, and
# tests/test_labextension.py fails when the source changed since.
LAB_STAGING = $(shell $(PY) -c 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))')
LABEXT_SOURCES := package.json package-lock.json install.json src/*.js
labextension: $(VENV)/.installed-test
	cd labextension && npm ci --no-audit --no-fund
	cd labextension && node_modules/.bin/build-labextension --core-path "$(LAB_STAGING)" .
	cp labextension/install.json freddy_magic/labextension/
	cd labextension && LC_ALL=C sha256sum $(LABEXT_SOURCES) > ../freddy_magic/labextension/source.sha256

clean:
	rm -rf $(VENV) test-results notebooks/executed
