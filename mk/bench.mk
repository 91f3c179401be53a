# `make bench`: the fleet-scale benchmark (BENCHMARKS.md). A benchmark, not a
# test: it is not in TEST_TARGETS and CI times nothing. It needs about four
# minutes and two cores; other load on the machine slows the wall times, so
# the report carries the load average. Settings: BENCH_FLAGS, e.g.
#   make bench BENCH_FLAGS='-latency 50ms -sizes 10000 -sweep-page-sizes='
BENCH_FLAGS ?=
BENCH_REPORT ?= .build/bench/report.md

.PHONY: bench bench-go
bench:
	@mkdir -p $(dir $(BENCH_REPORT))
	$(GO) run ./bench/cmd/scbench -o $(BENCH_REPORT) $(BENCH_FLAGS)

# The decoder microbenchmarks alone, through go test.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./bench/
