# syntax=docker/dockerfile:1
# ratify's container image: a static binary on distroless "static" (no shell,
# no libc, no package manager), running as the nonroot user 65532 that the
# Helm chart (charts/ratify) expects.
#
#   docker build --build-arg VERSION=v1.0.0 -t ratify:v1.0.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=v1.0.0 -t REGISTRY/ratify:v1.0.0 --push .
#
# GO_VERSION is at least go.mod's and carries every standard-library fix
# that make vulncheck knows of (SECURITY.md); the build runs on the build host's
# platform and cross-compiles for the target (no emulation needed).
ARG GO_VERSION=1.26.10

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -tags k8s -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ratify ./cmd/ratify

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ratify /ratify
# The numeric id, so that Kubernetes' runAsNonRoot can check it.
USER 65532:65532
ENTRYPOINT ["/ratify"]
