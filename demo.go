package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

// startDemo serves a simulated fleet on loopback and points the settings at
// it, so a newcomer sees real output with one command. The fleet changes
// now and then, as a real one does, so that the dashboard moves and the
// example stack's alerts fire.
func startDemo(s *settings, logger log.Logger) (func(), error) {
	if s.url != "" || s.tokenFile != "" || s.token != "" {
		return nil, errors.New("--demo serves its own simulated server: drop --safeconsole.url, --safeconsole.token-file and " + tokenEnvVar)
	}
	if s.demoDevices < 0 || s.demoDevices > 1_000_000 {
		return nil, fmt.Errorf("--demo.devices %d is out of range (0 to 1000000)", s.demoDevices)
	}
	fleet := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 1, Devices: s.demoDevices, Now: time.Now()})
	token := safeconsoletest.MakeToken(time.Now().Add(30*24*time.Hour), nil)
	srv := safeconsoletest.NewServer(fleet, safeconsoletest.WithToken(token), safeconsoletest.WithLatency(s.demoLatency))
	s.url = srv.URL
	s.allowHTTP = true // loopback inside this process
	s.token = token
	level.Info(logger).Log("msg", "demo mode: serving a simulated SafeConsole fleet", "drives", fleet.DeviceCount(), "url", srv.URL)

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if s.demoChurn <= 0 {
			return
		}
		rng := rand.New(rand.NewPCG(1, 2))
		t := time.NewTicker(s.demoChurn)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				if serial, status := churn(fleet, rng, now); serial != "" {
					level.Debug(logger).Log("msg", "demo fleet changed", "serial", serial, "status", status)
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		srv.Close()
	}, nil
}

// churn changes the fleet as a day at the office would, a little at a
// time: one drive in use is lost or disabled, and a few drives are used
// (and so come online) now. It returns the drive whose status changed.
func churn(fleet *safeconsoletest.Fleet, rng *rand.Rand, now time.Time) (serial, status string) {
	fleet.Mutate(func(f *safeconsoletest.Fleet) {
		var inUse [][2]int
		for i := range f.Users {
			for j := range f.Users[i].Devices {
				d := &f.Users[i].Devices[j]
				if d.Status == "IN_USE" {
					inUse = append(inUse, [2]int{i, j})
				}
				if rng.IntN(100) == 0 {
					d.LastUsed = now.Truncate(time.Second)
					d.Online = true
				}
			}
		}
		if len(inUse) == 0 {
			return
		}
		pick := inUse[rng.IntN(len(inUse))]
		d := &f.Users[pick[0]].Devices[pick[1]]
		d.Status = []string{"LOST", "DISABLED"}[rng.IntN(2)]
		d.Online = false
		serial, status = d.Serial, d.Status
	})
	return serial, status
}
