# Omnivisor — every target does its own set-up on a fresh machine (as root): Debian packages,
# Node 24, npm dependencies, the Go-built control plane and simulators (cached under
# ~/.cache/omnivisor), and the host services.
SHELL := /bin/bash
export OMNIVISOR_CACHE ?= $(HOME)/.cache/omnivisor
NODE_BIN := $(OMNIVISOR_CACHE)/node-24/node_modules/.bin
export PATH := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export npm_config_nodedir :=
STAMP := node_modules/.omnivisor-installed

.PHONY: image services-stop run run-fresh run-reset test test-unit test-integration lint build tools services packages node deps crds clean help

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

run: deps tools services ## the product on its embedded default: local control plane + local libvirt and Docker
	node src/cmd/local.ts

run-fresh: deps tools services ## make run from an empty control plane (earlier VMs show as orphaned on their Host)
	node src/cmd/local.ts --fresh

run-reset: deps tools services ## delete every VM make run made (through the operator) and its kept state
	node src/cmd/local.ts --reset

test: deps tools services ## the whole suite: unit, integration and end-to-end, against real services
	vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json

test-unit: deps ## unit tests only (no services)
	vitest run --project unit

test-integration: deps tools services ## integration and end-to-end scenarios only
	vitest run --project integration

lint: deps ## typescript-eslint (type-aware, no floating promises) and the type checker
	tsc -p tsconfig.json --noEmit
	eslint .

build: deps ## compile to dist/
	tsc -p tsconfig.build.json

packages: ## Debian packages (apt), only those missing
	@bash scripts/install-packages.sh

node: ## Node 24 LTS from the npm registry, into the cache
	@bash scripts/install-node.sh >/dev/null

deps: node $(STAMP) ## npm dependencies

$(STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

tools: packages ## kube-apiserver, kube-controller-manager, kubectl, etcd, vcsim, kstatus (Go, cached)
	@bash scripts/build-tools.sh

services: packages tools ## libvirtd, dockerd, vcsim and the tiny VM image (idempotent)
	@bash scripts/host-services.sh

clean: ## remove build output (the tool cache stays; rm -rf ~/.cache/omnivisor for a cold start)
	rm -rf dist node_modules

image: deps services ## the operator image (no registry: Debian packages + Node 24 + the app), tag omnivisor/operator:<version>, docker-save tar in ~/.cache/omnivisor/images
	@bash scripts/build-image.sh

crds: deps ## regenerate crds/ (and charts/omnivisor/crds/) from the zod schema in src/api
	node src/cmd/gen-crds.ts

services-stop: ## stop libvirtd, dockerd and vcsim started by `make services`
	@bash scripts/host-services.sh stop

.PHONY: bench-drivers
bench-drivers: deps services ## driver micro-benchmark: 20 VMs through each driver vs its CLI (bench/results/drivers.md)
	node bench/drivers.ts --json bench/results/drivers.json --markdown bench/results/drivers.md

.PHONY: bench-scale
bench-scale: deps tools services ## control-plane scale: 100 simulated hosts, 10,000 VMs; status-watcher latency (bench/results/scale.md)
	node bench/control-plane-scale.ts --json bench/results/scale.json --markdown bench/results/scale.md

.PHONY: bench-provisioning
bench-provisioning: deps tools services ## provisioning: 1, 20 and 100 VMs applied at once vs virsh and docker run (bench/results/provisioning.md)
	node bench/provisioning.ts --json bench/results/provisioning.json --markdown bench/results/provisioning.md

.PHONY: bench-lookups
bench-lookups: deps tools services ## per-VM lookup cost by uid at 10, 100 and 1,000 VMs on one host, every driver (bench/results/lookups.md)
	node bench/lookups.ts --json bench/results/lookups.json --markdown bench/results/lookups.md

.PHONY: bench-vm-usage
bench-vm-usage: deps tools services ## one read of every VM's own usage (observeVmUsage) per driver on a host running 10 VMs (bench/results/vm-usage.md)
	node bench/vm-usage.ts --json bench/results/vm-usage.json --markdown bench/results/vm-usage.md

.PHONY: bench-migration
bench-migration: deps tools services ## live migration: VMMigration vs virsh migrate --live --p2p between two private libvirtds, wall-time ratio and downtime (bench/results/migration.md)
	node bench/migration.ts --json bench/results/migration.json --markdown bench/results/migration.md

.PHONY: bench-webhook
bench-webhook: deps tools ## VDCQuota admission webhook latency p50 / p99 under 50 concurrent creates, vs the same creates without it (bench/results/webhook.md)
	node bench/webhook.ts --json bench/results/webhook.json --markdown bench/results/webhook.md

.PHONY: chaos
chaos: deps tools services ## chaos report: kill -9 of the manager mid-create/resize/delete (50 trials), two leaders, API server/etcd restarts and cut watches, dockerd/libvirtd restarts; duplicates, orphans, lost changes, time to converge (bench/results/chaos.md)
	node bench/chaos.ts --json bench/results/chaos.json --markdown bench/results/chaos.md

.PHONY: bench-ha
bench-ha: deps tools services ## HA failover: host loss → first VM / all VMs running elsewhere, 1, 10 and 50 VMs, 5 trials each (bench/results/ha.md)
	node bench/ha.ts --json bench/results/ha.json --markdown bench/results/ha.md

.PHONY: bench-install
bench-install: deps tools services ## Helm install on a one-node cluster: install → Ready, failover after SIGKILL of the leader, graceful hand-over, writes during helm upgrade (bench/results/install.md)
	node bench/install.ts --json bench/results/install.json --markdown bench/results/install.md

.PHONY: bench-drs
bench-drs: deps ## DRS planner: one pool of 1,000 hosts × 20,000 VMs planned 25 times at level 3, p50 / p99 (target p99 < 200 ms), memory (bench/results/drs-planner.md)
	node bench/drs-planner.ts --json bench/results/drs-planner.json --markdown bench/results/drs-planner.md

.PHONY: bench
bench: bench-drivers bench-provisioning bench-scale bench-lookups bench-vm-usage bench-migration bench-webhook bench-ha bench-drs ## all benchmarks: placement latency, driver lifecycle vs CLI, provisioning vs CLI, control-plane scale, per-VM lookups, per-VM usage reads, live migration vs virsh, quota webhook latency, HA failover, DRS planner (bench/results/)
	node bench/placement.ts --json bench/results/placement.json
	node bench/summary.ts
