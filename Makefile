# ratify: build, test and benchmark. `make test` is all CI runs (.ci/run).
GO ?= go
# Command-line tools the tests drive (the notation CLI), built from the Go
# module proxy at the versions pinned in tools/go.mod and cached here.
TOOLS_BIN := $(CURDIR)/.cache/bin
export RATIFY_TEST_NOTATION := $(TOOLS_BIN)/notation

.PHONY: all build test bench tools vet clean

all: build

# bin/ratify is the command line tool; bin/ratify-k8s adds the Kubernetes
# controllers (serve --enable-crd-manager), as the container image does.
build:
	$(GO) build -o bin/ratify ./cmd/ratify
	$(GO) build -tags k8s -o bin/ratify-k8s ./cmd/ratify

tools: $(TOOLS_BIN)/notation

$(TOOLS_BIN)/notation: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(TOOLS_BIN)/notation github.com/notaryproject/notation/cmd/notation

vet:
	$(GO) vet ./...
	$(GO) vet -tags k8s ./cmd/ratify

test: tools vet
	$(GO) test -race -count=1 -timeout 30m ./...

# Benchmarks: figures go to BENCHMARKS.md with the command that produced them.
bench: tools
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./...

clean:
	rm -rf bin .cache
# Fragments for the Kubernetes binaries, the Helm chart and code generation
# add their own targets and prerequisites of `test`.
-include mk/*.mk
