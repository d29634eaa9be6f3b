# The oras CLI (oras.land/oras) that internal/testratify drives to attach
# SBOMs and vulnerability reports to images in the tests (`oras attach`), built
# from the Go module proxy at the version pinned in tools/oras/go.mod (a
# module of its own, so that its dependencies never move ratify's). Rebuilt
# only when that go.mod or go.sum changes; the build takes about ten seconds.
ORAS := $(TOOLS_BIN)/oras
export RATIFY_TEST_ORAS := $(ORAS)

tools: $(ORAS)

# Built into a temporary file and renamed, so that a concurrent reader never
# runs a half-written binary. oras.land/oras carries its version in its
# source (internal/version), so `oras version` names it without stamping.
$(ORAS): tools/oras/go.mod tools/oras/go.sum
	mkdir -p $(dir $@)
	cd tools/oras && $(GO) build -trimpath -ldflags "-s -w" -o $@.tmp oras.land/oras/cmd/oras && mv $@.tmp $@
