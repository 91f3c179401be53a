package bench

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// The harness starts the simulator as a copy of the running program.
	if MaybeServeSimulator() {
		return
	}
	os.Exit(m.Run())
}
