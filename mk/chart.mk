# The Helm chart (charts/ratify), the image's Dockerfile and the Azure Policy
# definitions: test/chart lints and renders the chart with helm v3, built from
# the Go module proxy at the version pinned in tools/k8s/helm into .cache/k8s-bin
# (the binary k8s.mk's build also makes; an existing one is kept).
CHART_HELM := $(CURDIR)/.cache/k8s-bin/helm
export RATIFY_TEST_HELM := $(CHART_HELM)

.PHONY: chart-tools chart-lint chart-test

chart-tools: $(CHART_HELM)

# Built into a temporary file and renamed, so that a concurrent reader never
# runs a half-written binary.
$(CHART_HELM): tools/k8s/helm/go.mod tools/k8s/helm/go.sum
	mkdir -p $(dir $@)
	cd tools/k8s/helm && $(GO) build -trimpath \
	  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$$($(GO) list -m -f '{{.Version}}' helm.sh/helm/v3)" \
	  -o $@.tmp helm.sh/helm/v3/cmd/helm && mv $@.tmp $@

chart-lint: chart-tools
	$(CHART_HELM) lint --strict charts/ratify

chart-test: chart-tools
	$(GO) test -count=1 ./test/chart/

test: chart-tools
