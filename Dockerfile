# Container image for safeconsole_exporter.
#
#   docker build -t safeconsole_exporter .        (or: make image)
#   docker run --rm -p 10150:10150 safeconsole_exporter --demo
#
# Base images are pinned by tag. scripts/image-check.sh builds this very file
# with buildah against local stand-ins carrying the same names, so keep the
# builder stage to what a plain Go toolchain image offers (a shell and `go`).

# ---- build stage -------------------------------------------------------------
FROM golang:1.26-bookworm AS builder

# A static binary: it runs on an image with no libc, and the build does not
# depend on what C toolchain the builder image happens to carry.
ENV CGO_ENABLED=0 \
    GOFLAGS=-buildvcs=false \
    GOTOOLCHAIN=local

WORKDIR /src

# Modules first, in their own step, so a source change does not download them
# again. The cache mounts keep the module and build caches out of every layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .

# Version information for prometheus/common/version (shown by --version, the
# landing page and safeconsole_exporter_build_info). `make image` fills these
# in from git; a bare `docker build` leaves them as "unknown".
ARG VERSION=unknown
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_USER=unknown
ARG BUILD_DATE=unknown

RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH} \
        -X github.com/prometheus/common/version.BuildUser=${BUILD_USER} \
        -X github.com/prometheus/common/version.BuildDate=${BUILD_DATE}" \
      -o /out/safeconsole_exporter .

# ---- final image -------------------------------------------------------------
# distroless "static": CA certificates (HTTPS to SafeConsole), tzdata,
# /etc/passwd with the unprivileged user "nonroot" (65532) and nothing else:
# no shell, no package manager, no libc, which the static binary does not need.
FROM gcr.io/distroless/static-debian12:nonroot

LABEL org.opencontainers.image.title="safeconsole_exporter" \
      org.opencontainers.image.description="Prometheus exporter for SafeConsole (DataLocker) encrypted USB drive fleets"

COPY --from=builder /out/safeconsole_exporter /bin/safeconsole_exporter

# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532

EXPOSE 10150

# The API token is never baked in: mount it as a file and pass
# --safeconsole.token-file, or set SAFECONSOLE_TOKEN in the environment.
ENTRYPOINT ["/bin/safeconsole_exporter"]
