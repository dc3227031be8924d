# The README's two commands live here: `make demo` and `make test`. `make check` is the fast test
# loop (everything not marked slow); `make bench` runs benchmarks/.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
HEADLESS ?=

.PHONY: test check demo bench chromium clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip

# A stamp per extra, remade when pyproject.toml changes.
$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[test]'
	touch $@

$(VENV)/.installed-demo: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[demo]'
	touch $@

# Debian's chromium for the browser tests; only root can install it, others get a skip with a reason.
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium not installed and not root: browser tests will be skipped"; fi

test: $(VENV)/.installed-test chromium
	$(PY) -m pytest

check: $(VENV)/.installed-test
	$(PY) -m pytest -m "not slow"

demo: $(VENV)/.installed-demo
ifeq ($(HEADLESS),)
	$(PY) notebooks/run.py lab
else
	$(PY) notebooks/run.py execute
endif

bench: $(VENV)/.installed-test
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) test-results notebooks/executed
