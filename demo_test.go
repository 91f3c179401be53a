package main

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/safeconsole-exporter/safeconsole_exporter/safeconsole/safeconsoletest"
)

func TestDemoChurnChangesOneDriveStatus(t *testing.T) {
	fleet := safeconsoletest.NewFleet(safeconsoletest.FleetOptions{Seed: 1, Devices: 500})
	lostOrDisabled := func() (n int, byStatus map[string]string) {
		byStatus = map[string]string{}
		for _, u := range fleet.Users {
			for _, d := range u.Devices {
				byStatus[d.Serial] = d.Status
				if d.Status == "LOST" || d.Status == "DISABLED" {
					n++
				}
			}
		}
		return n, byStatus
	}
	before, statusBefore := lostOrDisabled()
	now := fleet.Now.Add(time.Hour)
	serial, status := churn(fleet, rand.New(rand.NewPCG(1, 2)), now)
	after, statusAfter := lostOrDisabled()
	if after != before+1 {
		t.Errorf("lost or disabled drives went from %d to %d, want one more", before, after)
	}
	if statusBefore[serial] != "IN_USE" || statusAfter[serial] != status || (status != "LOST" && status != "DISABLED") {
		t.Errorf("drive %s went from %s to %s (reported %s)", serial, statusBefore[serial], statusAfter[serial], status)
	}
	for s, st := range statusAfter {
		if s != serial && st != statusBefore[s] {
			t.Errorf("drive %s changed status too", s)
		}
	}
	used := 0
	for _, u := range fleet.Users {
		for _, d := range u.Devices {
			if d.LastUsed.Equal(now) {
				used++
			}
		}
	}
	if used == 0 {
		t.Errorf("no drive was used")
	}
}
