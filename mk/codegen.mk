# Code generation: the CRD manifests in charts/ratify/crds (one file per CRD) and
# api/v1beta1/zz_generated.deepcopy.go, from the kubebuilder markers of api/v1beta1,
# by controller-gen (sigs.k8s.io/controller-tools) built from the Go module proxy at
# the version pinned in tools/controller-gen/go.mod. Run `make generate` after
# changing a type; api/v1beta1's TestGeneratedFilesUpToDate fails until you do.
CONTROLLER_GEN := $(TOOLS_BIN)/controller-gen
CRD_DIR := charts/ratify/crds
export RATIFY_TEST_CONTROLLER_GEN := $(CONTROLLER_GEN)

.PHONY: generate
generate: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) object paths=./api/...
	rm -f $(CRD_DIR)/config.ratify.deislabs.io_*.yaml
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:dir=$(CRD_DIR)

$(CONTROLLER_GEN): tools/controller-gen/go.mod tools/controller-gen/go.sum
	cd tools/controller-gen && $(GO) build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

tools: $(CONTROLLER_GEN)
test: $(CONTROLLER_GEN)
