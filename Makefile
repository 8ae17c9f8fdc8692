# kubectl-gitops: build, test, demo and packaging. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

GO            ?= go
VERSION       ?= $(shell hack/version.sh)
GIT_COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD_DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG           := github.com/kubectl-gitops/kubectl-gitops
# disable_grpc_modules: cloud.google.com/go/storage (linked by sops' publish package, which the
# plugin never calls) then leaves out gRPC's xDS and Envoy's API, 12.5 MB of the binary.
GOTAGS        := disable_grpc_modules
LDFLAGS       := -X $(PKG)/pkg/buildinfo.Version=$(VERSION) -X $(PKG)/pkg/buildinfo.GitCommit=$(GIT_COMMIT) -X $(PKG)/pkg/buildinfo.BuildDate=$(BUILD_DATE)
BIN           := bin/kubectl-gitops
TESTBIN       := bin/testbin
PREFIX        ?= $(HOME)/.local
# The checksum database does not answer for k8s.io/kubernetes here; everything else is checked.
TESTBIN_ENV   := GOFLAGS=-mod=mod GONOSUMDB=k8s.io/kubernetes
# A build from the module proxy carries no version; stamp the one pinned in hack/testbin/kube.
KUBE_VERSION  := $(shell sed -n 's/^require k8s.io\/kubernetes \(v[0-9.]*\)$$/\1/p' hack/testbin/kube/go.mod)
KUBE_LDFLAGS  := -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) -X k8s.io/component-base/version.gitMajor=$(word 2,$(subst ., ,$(subst v,v ,$(KUBE_VERSION)))) -X k8s.io/component-base/version.gitMinor=$(word 3,$(subst ., ,$(subst v,v ,$(KUBE_VERSION)))) -X k8s.io/component-base/version.gitTreeState=clean
TEST_FLAGS    ?=
E2E_ENV       := KUBECTL_GITOPS_E2E=1 PATH=$(CURDIR)/bin:$(CURDIR)/$(TESTBIN):$$PATH

.PHONY: help build install test test-unit test-e2e test-race demo demo-down bench bench-repo lint testbin dist \
	krew-manifest krew-validate krew-install-test clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# Without cgo, as the release (hack/dist.sh): a cgo build's warm change peaks about 35 MB higher.
build: ## Build bin/kubectl-gitops (and its completion helper beside it)
	CGO_ENABLED=0 $(GO) build -trimpath -tags "$(GOTAGS)" -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/kubectl-gitops
	install -m 0755 hack/kubectl_complete-gitops bin/kubectl_complete-gitops

install: build ## Install the plugin and its completion helper into $(PREFIX)/bin
	install -d $(PREFIX)/bin
	install -m 0755 $(BIN) bin/kubectl_complete-gitops $(PREFIX)/bin/

test: testbin build ## Every test: unit and e2e against a real control plane
	$(E2E_ENV) $(GO) test -count=1 $(TEST_FLAGS) ./...

test-unit: ## Unit tests only (no control plane)
	$(GO) test -short -count=1 $(TEST_FLAGS) ./...

test-e2e: testbin build ## E2E tests only (real etcd, kube-apiserver, git, controllers)
	$(E2E_ENV) $(GO) test -count=1 -run 'E2E' $(TEST_FLAGS) ./...

# The packages that run work on several goroutines (discovery's split scan, the render cache
# written beside the commit, parallel dry runs and captures, the repository lock, charts rendered
# side by side, history's slices), and the plugin's test of two invocations at once.
RACE_PKGS     := ./pkg/diff/... ./pkg/editsession/... ./pkg/gitrepo/... ./pkg/helm/... ./pkg/history/... ./pkg/hooks/... \
	./pkg/render/... ./pkg/target/... ./pkg/validate/... ./pkg/verify/... ./pkg/workflow/... ./internal/...

# pkg/change's goroutines are the sliced first render's and the tree memo's; its other tests
# (the reduced-render comparisons) run single-threaded and take ten minutes under the detector.
test-race: ## The concurrent packages' unit tests under the race detector
	$(GO) test -race -short -count=1 -timeout 20m $(TEST_FLAGS) $(RACE_PKGS)
	$(GO) test -race -short -count=1 -timeout 20m -run 'TestSliced|TestTreeMemo|TestRefresh' $(TEST_FLAGS) ./pkg/change/
	$(GO) test -race -short -count=1 -timeout 20m -run 'Concurren' $(TEST_FLAGS) ./pkg/plugin/

bench: testbin build ## Benchmarks, each reporting its anchor measured in the same run
	$(E2E_ENV) $(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 90m ./...

# BenchmarkRepo on a repository of one's own: BENCH_REPO=DIR BENCH_PATH=P BENCH_OBJECT=kind/ns/name.
# It works on a clone of DIR in a temporary directory; DIR is never changed.
bench-repo: testbin build ## The change, diff and history benchmarks on BENCH_REPO (see pkg/plugin/shapes_bench_test.go)
	@if [ -z "$${BENCH_REPO:-}" ] || [ -z "$${BENCH_PATH:-}" ] || [ -z "$${BENCH_OBJECT:-}" ]; then \
		echo "usage: BENCH_REPO=DIR BENCH_PATH=P BENCH_OBJECT=kind/namespace/name make bench-repo" >&2; exit 2; fi
	BENCH_REPO=$$(cd "$$BENCH_REPO" && pwd) $(E2E_ENV) $(GO) test -run '^$$' -bench '^BenchmarkRepo$$' -benchtime 1x -count 1 -timeout 60m ./pkg/plugin/

lint: ## gofmt, go vet, and go mod tidy leaving no diff
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cp go.mod /tmp/kubectl-gitops.go.mod.bak; cp go.sum /tmp/kubectl-gitops.go.sum.bak
	$(GO) mod tidy
	@if ! git diff --quiet -- go.mod go.sum; then git diff -- go.mod go.sum; echo "go mod tidy changed go.mod/go.sum"; exit 1; fi

# The control plane and controllers the e2e tests run, built from the module proxy. Each binary is
# rebuilt only when missing or when its pinned module versions (the tools go.mod) change.
testbin: $(TESTBIN)/kube-apiserver $(TESTBIN)/kubectl $(TESTBIN)/etcd $(TESTBIN)/sealed-secrets-controller \
	$(TESTBIN)/kustomize-controller $(TESTBIN)/source-controller $(TESTBIN)/helm-controller $(TESTBIN)/kustomize \
	$(TESTBIN)/helm $(TESTBIN)/gitea ## Build the test control plane, controllers, the helm CLI and Gitea

$(TESTBIN)/kube-apiserver: hack/testbin/kube/go.mod
	cd hack/testbin/kube && $(TESTBIN_ENV) $(GO) build -ldflags "$(KUBE_LDFLAGS)" -o $(CURDIR)/$@ k8s.io/kubernetes/cmd/kube-apiserver

$(TESTBIN)/kubectl: hack/testbin/kube/go.mod
	cd hack/testbin/kube && $(TESTBIN_ENV) $(GO) build -ldflags "$(KUBE_LDFLAGS)" -o $(CURDIR)/$@ k8s.io/kubernetes/cmd/kubectl

$(TESTBIN)/etcd: hack/testbin/etcd/go.mod
	cd hack/testbin/etcd && $(TESTBIN_ENV) $(GO) build -o $(CURDIR)/$@ ./cmd/etcd

$(TESTBIN)/sealed-secrets-controller: hack/testbin/sealedsecrets/go.mod
	cd hack/testbin/sealedsecrets && $(TESTBIN_ENV) $(GO) build -o $(CURDIR)/$@ github.com/bitnami-labs/sealed-secrets/cmd/controller

# The kustomize CLI Argo CD's repo-server runs (kustomize edit, build), for the Argo CD render tests.
$(TESTBIN)/kustomize: hack/testbin/kustomize/go.mod
	cd hack/testbin/kustomize && $(TESTBIN_ENV) $(GO) build -o $(CURDIR)/$@ sigs.k8s.io/kustomize/kustomize/v5

# The helm CLI of the SDK version pkg/helm uses, whose `helm template` its renders must equal.
$(TESTBIN)/helm: hack/testbin/helm/go.mod
	cd hack/testbin/helm && $(TESTBIN_ENV) $(GO) build -o $(CURDIR)/$@ helm.sh/helm/v4/cmd/helm

# Flux's controllers v1.7.3; the checksum database does not answer for some of their modules.
FLUX_ENV := GOFLAGS=-mod=mod GONOSUMDB=k8s.io/kubernetes,github.com/fluxcd/pkg/helmtestserver,github.com/fluxcd/pkg/gittestserver,github.com/fluxcd/pkg/http/transport,github.com/google/go-containerregistry/pkg/authn/k8schain

$(TESTBIN)/kustomize-controller: hack/testbin/flux-kustomize/go.mod
	cd hack/testbin/flux-kustomize && $(FLUX_ENV) $(GO) build -o $(CURDIR)/$@ github.com/fluxcd/kustomize-controller

$(TESTBIN)/source-controller: hack/testbin/flux-source/go.mod
	cd hack/testbin/flux-source && $(FLUX_ENV) $(GO) build -o $(CURDIR)/$@ github.com/fluxcd/source-controller

# helm-controller v1.4.3, the Flux release beside source- and kustomize-controller v1.7.3, for the
# e2e tests of HelmRelease-made objects.
$(TESTBIN)/helm-controller: hack/testbin/flux-helm/go.mod
	cd hack/testbin/flux-helm && $(FLUX_ENV) $(GO) build -o $(CURDIR)/$@ github.com/fluxcd/helm-controller

# Gitea, the forge the --pr tests open pull requests on: with cgo for sqlite, without bindata
# (internal/testgitea points it at the module's templates and locales), and stamped with its
# version, which its API reports and Gitea's SDK reads.
GITEA_VERSION := $(shell sed -n 's/^require code.gitea.io\/gitea v\([0-9.]*\)$$/\1/p' hack/testbin/gitea/go.mod)
$(TESTBIN)/gitea: hack/testbin/gitea/go.mod
	cd hack/testbin/gitea && CGO_ENABLED=1 GOFLAGS=-mod=mod $(GO) build -tags "sqlite sqlite_unlock_notify" \
		-ldflags "-X main.Version=$(GITEA_VERSION)" -o $(CURDIR)/$@ code.gitea.io/gitea

# What the demo runs, and only that: etcd, kube-apiserver, Flux's source- and kustomize-controllers,
# and kubectl unless the one on the PATH is within one minor version of the API server
# (hack/kubectl-ok.sh; hack/demo.sh puts bin/testbin first on the PATH, so a kubectl built there
# still wins). No sealed-secrets controller, kustomize CLI or Gitea. Built two at a time: go build
# keeps both cores busy compiling, but each link, and each module download, uses one; kubectl
# comes last, so it rarely compiles the packages it shares with kube-apiserver at the same time.
DEMO_BINS = $(TESTBIN)/etcd $(TESTBIN)/kube-apiserver $(TESTBIN)/source-controller $(TESTBIN)/kustomize-controller \
	$(if $(shell hack/kubectl-ok.sh $(KUBE_VERSION) && echo ok),,$(TESTBIN)/kubectl)

demo: ## Start a local control plane with Flux, a sample GitOps repository Flux applies, and print what to type next
	$(MAKE) -j2 $(DEMO_BINS) build
	hack/demo.sh up

demo-down: ## Stop the demo's control plane and remove its files
	hack/demo.sh down

dist: ## Cross-build release archives into dist/
	VERSION=$(VERSION) hack/dist.sh

krew-manifest: dist ## Generate krew/gitops.yaml from the archives
	VERSION=$(VERSION) hack/krew.sh manifest

krew-validate: krew-manifest ## Validate krew/gitops.yaml with krew's own validator
	hack/krew.sh validate

krew-install-test: krew-manifest testbin ## Install the archive with krew and run `kubectl gitops version`
	PATH=$(CURDIR)/$(TESTBIN):$$PATH hack/krew.sh install-test

clean: ## Remove build outputs (not the cached test binaries)
	rm -rf dist bin/kubectl-gitops bin/kubectl_complete-gitops
