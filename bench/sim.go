package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

// The simulated server runs in a child process (this same binary, started
// again with simEnv set) so that the CPU it spends rendering pages is not
// counted as the exporter's: getrusage(RUSAGE_SELF) in the parent then sees
// the exporter's work only. The child answers a line protocol on stdin:
//
//	cpu       -> "cpu <nanoseconds>"   its own CPU time so far
//	requests  -> "requests <n>"        requests it has served
//	(EOF)     -> it closes the server and exits
const (
	simEnv        = "SCBENCH_SIMULATOR"
	simDevicesEnv = "SCBENCH_SIM_DEVICES"
	simLatencyEnv = "SCBENCH_SIM_LATENCY"
	simSeedEnv    = "SCBENCH_SIM_SEED"
	simPaddedEnv  = "SCBENCH_SIM_PADDED"
)

// MaybeServeSimulator turns the process into the simulator child when it
// was started as one; it returns false at once otherwise. A program that
// runs Run must call it first thing in main (or TestMain).
func MaybeServeSimulator() bool {
	if os.Getenv(simEnv) == "" {
		return false
	}
	if err := serveSimulator(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

func serveSimulator(in io.Reader, out io.Writer) error {
	devices, err := strconv.Atoi(os.Getenv(simDevicesEnv))
	if err != nil {
		return fmt.Errorf("%s: %w", simDevicesEnv, err)
	}
	latency, err := time.ParseDuration(os.Getenv(simLatencyEnv))
	if err != nil {
		return fmt.Errorf("%s: %w", simLatencyEnv, err)
	}
	seed, err := strconv.ParseInt(os.Getenv(simSeedEnv), 10, 64)
	if err != nil {
		return fmt.Errorf("%s: %w", simSeedEnv, err)
	}
	fleet := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: seed, Devices: devices})
	opts := []safeconsoletest.Option{safeconsoletest.WithLatency(latency)}
	if os.Getenv(simPaddedEnv) == "" {
		opts = append(opts, safeconsoletest.WithSeedShape())
	}
	srv := safeconsoletest.NewServer(fleet, opts...)
	defer srv.Close()
	if _, err := fmt.Fprintf(out, "url %s\n", srv.URL); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var reply string
		switch sc.Text() {
		case "cpu":
			reply = fmt.Sprintf("cpu %d", processCPU().Nanoseconds())
		case "requests":
			reply = fmt.Sprintf("requests %d", srv.RequestsTotal())
		default:
			reply = "error unknown command"
		}
		if _, err := fmt.Fprintln(out, reply); err != nil {
			return err
		}
	}
	return sc.Err()
}

// simulator is the parent's handle on the child.
type simulator struct {
	URL   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startSimulator starts the child; padded answers carry the members the
// vendor's example does not show, seed-shaped ones only the example's.
func startSimulator(devices int, latency time.Duration, seed int64, padded bool) (*simulator, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program to start the simulator: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), simEnv+"=1",
		simDevicesEnv+"="+strconv.Itoa(devices),
		simLatencyEnv+"="+latency.String(),
		simSeedEnv+"="+strconv.FormatInt(seed, 10))
	if padded {
		cmd.Env = append(cmd.Env, simPaddedEnv+"=1")
	}
	cmd.Stderr = os.Stderr
	// The child must not outlive a parent that dies without closing stdin.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("simulator stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("simulator stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the simulator: %w", err)
	}
	s := &simulator{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := s.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "url ") {
		s.Close()
		return nil, fmt.Errorf("simulator did not start (said %q): %v", line, err)
	}
	s.URL = strings.TrimSpace(strings.TrimPrefix(line, "url "))
	return s, nil
}

func (s *simulator) ask(cmd string) (int64, error) {
	if _, err := fmt.Fprintln(s.stdin, cmd); err != nil {
		return 0, fmt.Errorf("asking the simulator %q: %w", cmd, err)
	}
	line, err := s.out.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("reading the simulator's answer to %q: %w", cmd, err)
	}
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != cmd {
		return 0, fmt.Errorf("simulator answered %q to %q", line, cmd)
	}
	return strconv.ParseInt(f[1], 10, 64)
}

// CPU is the simulator process's CPU time so far.
func (s *simulator) CPU() (time.Duration, error) {
	n, err := s.ask("cpu")
	return time.Duration(n), err
}

// Requests is how many requests the simulator has served.
func (s *simulator) Requests() (int64, error) { return s.ask("requests") }

// Close stops the child and waits for it.
func (s *simulator) Close() error {
	s.stdin.Close()
	return s.cmd.Wait()
}
