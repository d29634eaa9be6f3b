# The cosign CLI (sigstore/cosign v2) that internal/testratify drives to sign
# images in the tests, built from the Go module proxy at the version pinned in
# tools/cosign/go.mod (a module of its own: cosign's dependencies would drag
# the notation tools' forward). Rebuilt only when that go.mod or go.sum
# changes; the first build takes a few minutes on two cores.
COSIGN := $(TOOLS_BIN)/cosign
export RATIFY_TEST_COSIGN := $(COSIGN)

tools: $(COSIGN)

# Built into a temporary file and renamed, so that a concurrent reader never
# runs a half-written binary. The version is stamped as cosign's own release
# build does, so that `cosign version` names it.
$(COSIGN): tools/cosign/go.mod tools/cosign/go.sum
	mkdir -p $(dir $@)
	cd tools/cosign && $(GO) build -trimpath \
	  -ldflags "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$$($(GO) list -m -f '{{.Version}}' github.com/sigstore/cosign/v2)" \
	  -o $@.tmp github.com/sigstore/cosign/v2/cmd/cosign && mv $@.tmp $@
