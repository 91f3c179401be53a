# Hardening checks (README.md, "Security").
#
#   make fuzz    run each fuzz target for FUZZTIME (default 10s) on top of its
#                committed seed corpus (testdata/fuzz/); part of `make test`.
#                A failure leaves the failing input under testdata/fuzz/ as a
#                new regression seed: commit it with the fix.
#   make soak    thousands of scrapes with random faults for SOAK_DURATION
#                (default 60s), then checks that goroutines, heap and file
#                descriptors are back at their baseline. Not part of `make test`.
#
# The seed corpora alone run in every `go test ./...`.

FUZZTIME      ?= 10s
SOAK_DURATION ?= 60s

# package:target pairs; go test -fuzz takes one target of one package at a time.
FUZZ_TARGETS := \
	./safeconsole:FuzzPageDecoder \
	./safeconsole:FuzzDecodeOUs \
	./safeconsole:FuzzParseTimestamp \
	./safeconsole:FuzzJWTExpiry \
	./safeconsole:FuzzDedupeSets \
	./collector:FuzzVersionCompare \
	./collector:FuzzAppendIntAsFloat

TEST_TARGETS += fuzz

.PHONY: fuzz soak

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz: $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

soak:
	$(GO) test -count=1 -timeout 0 -run '^TestSoak$$' -v ./soak -soak.duration=$(SOAK_DURATION)
