# The one test command is `make test` (README.md, .ci/run). Each area of the
# project adds its own checks in mk/<area>.mk and appends them to TEST_TARGETS.
GO        ?= go
TOOLS_BIN ?= $(CURDIR)/.build/bin
export PATH := $(TOOLS_BIN):$(PATH)

TEST_TARGETS :=

-include mk/*.mk

.PHONY: all build test test-go fmt-check vet
all: build

build:
	$(GO) build -trimpath -o safeconsole_exporter .

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test-go:
	$(GO) test -race -count=1 ./...

test: fmt-check vet test-go $(TEST_TARGETS)
	@echo "make test: all checks passed"
