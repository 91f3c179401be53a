// Package soak holds the exporter's soak test: thousands of scrapes over
// real HTTP against the simulated SafeConsole server while faults are
// injected at random, after which goroutines, heap and file descriptors
// must be back at their baseline.
//
// `go test ./soak` runs a short soak (a few seconds) so the leak checks run
// with every test; `make soak` runs it for SOAK_DURATION (default 60s):
//
//	go test -count=1 -timeout 0 -run '^TestSoak$' -v ./soak -soak.duration=10m
package soak
