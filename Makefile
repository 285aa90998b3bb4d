# Two commands: `make demo` and `make test`. Each builds .venv by itself, once.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MLFLOW_DISABLE_TELEMETRY := true
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test venv lint bench-env clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh

test: $(STAMP)
	# Browser tests need headless Chromium from Debian packages.
	test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info

# Benchmarks run gristmill from .venv and the anchors (Snorkel 0.10, ...) from their own venv.
ANCHORS := benchmarks/.venv-anchors
$(ANCHORS)/.installed: benchmarks/anchors-requirements.txt
	test -x $(ANCHORS)/bin/python || $(PYTHON) -m venv $(ANCHORS)
	$(ANCHORS)/bin/python -m pip install -q --upgrade pip
	$(ANCHORS)/bin/python -m pip install -q -r benchmarks/anchors-requirements.txt
	touch $@

# Raha->Baran (benchmarks/clean.py --raha) needs pandas < 2: a venv of its own.
RAHA := benchmarks/.venv-raha
$(RAHA)/.installed: benchmarks/raha-requirements.txt
	test -x $(RAHA)/bin/python || $(PYTHON) -m venv $(RAHA)
	$(RAHA)/bin/python -m pip install -q -r benchmarks/raha-requirements.txt
	touch $@

bench-env: $(STAMP) $(ANCHORS)/.installed $(RAHA)/.installed
	# benchmarks/serve_load.py drives the server with wrk (C, Debian package), not with Python.
	command -v wrk >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
