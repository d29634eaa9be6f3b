# A real Kubernetes control plane for the admission tests (internal/testcluster,
# test/admission): kube-apiserver and kubectl v1.35.4, etcd v3.6.16, Gatekeeper's
# manager v3.23.1 and helm v3.21.4, built from the Go module proxy by
# tools/k8s/build.sh at the versions pinned in tools/k8s/*/go.mod. A binary already
# in .cache/k8s-bin is kept (delete it, or `make clean`, to rebuild): the first build
# takes about ten minutes on two cores, later ones nothing.
K8S_BIN := $(CURDIR)/.cache/k8s-bin
export RATIFY_TEST_K8S_BIN := $(K8S_BIN)

.PHONY: k8s-bins
k8s-bins:
	bash tools/k8s/build.sh $(K8S_BIN)

test: k8s-bins

# Only the tests that run the control plane (a cluster start takes ~10 s).
.PHONY: test-admission
test-admission: k8s-bins
	$(GO) test -race -count=1 -timeout 20m ./internal/testcluster/ ./test/admission/
