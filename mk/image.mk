# Container image (Dockerfile at the top level).
#
#   make image         build it with a Docker-compatible CLI (IMAGE_BUILDER=podman works too)
#   make image-check   build the real Dockerfile with buildah against local
#                      stand-ins for the base images, run it in --demo mode and
#                      scrape /metrics (scripts/image-check.sh); needs root, no
#                      Docker engine and no registry. Part of `make test`.

IMAGE_BUILDER    ?= docker
IMAGE_NAME       ?= safeconsole_exporter
IMAGE_VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
IMAGE_TAG        ?= $(IMAGE_VERSION)
IMAGE_REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE_BRANCH     ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
IMAGE_BUILD_USER ?= $(shell id -un)@$(shell hostname)
IMAGE_BUILD_DATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)

# The same names the Dockerfile's ARGs and scripts/image-check.sh read.
IMAGE_STAMP = VERSION="$(IMAGE_VERSION)" REVISION="$(IMAGE_REVISION)" BRANCH="$(IMAGE_BRANCH)" \
              BUILD_USER="$(IMAGE_BUILD_USER)" BUILD_DATE="$(IMAGE_BUILD_DATE)"

.PHONY: image image-check
image:
	$(IMAGE_BUILDER) build \
		--build-arg VERSION="$(IMAGE_VERSION)" \
		--build-arg REVISION="$(IMAGE_REVISION)" \
		--build-arg BRANCH="$(IMAGE_BRANCH)" \
		--build-arg BUILD_USER="$(IMAGE_BUILD_USER)" \
		--build-arg BUILD_DATE="$(IMAGE_BUILD_DATE)" \
		-t $(IMAGE_NAME):$(IMAGE_TAG) .

image-check:
	$(IMAGE_STAMP) scripts/image-check.sh

# Measured on the two-core machine: about 1 minute with cold Go caches when
# idle (the Go build in the builder stage is most of it; several minutes when
# other builds compete for the cores), about 10 s when repeated, plus about
# 20 s to install buildah on a new machine.
TEST_TARGETS += image-check
