package safeconsoletest

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestNewFleetExactSizes(t *testing.T) {
	for _, n := range []int{0, 1, 10, 10000} {
		f := NewFleet(FleetOptions{Seed: 7, Devices: n})
		if got := f.DeviceCount(); got != n {
			t.Errorf("Devices %d: DeviceCount = %d", n, got)
		}
		if len(f.OUs) < 8 || len(f.OUs) > 15 {
			t.Errorf("Devices %d: %d OUs, want 8..15", n, len(f.OUs))
		}
		if f.OUs[0].Path != "00.default" {
			t.Errorf("first OU %q, want 00.default", f.OUs[0].Path)
		}
		seen := map[string]bool{}
		var prev int64
		for _, u := range f.Users {
			if u.ID <= prev {
				t.Fatalf("user IDs not ascending: %d after %d", u.ID, prev)
			}
			prev = u.ID
			for _, d := range u.Devices {
				if seen[d.Serial] {
					t.Fatalf("duplicate serial %s", d.Serial)
				}
				seen[d.Serial] = true
				for _, c := range d.Serial {
					if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
						t.Fatalf("serial %q is not upper-case alphanumeric", d.Serial)
					}
				}
			}
		}
	}
}

func TestNewFleetDeterministic(t *testing.T) {
	a := NewFleet(FleetOptions{Seed: 42, Devices: 500})
	b := NewFleet(FleetOptions{Seed: 42, Devices: 500})
	if !reflect.DeepEqual(a.Users, b.Users) || !reflect.DeepEqual(a.OUs, b.OUs) {
		t.Fatal("same seed gave different fleets")
	}
	c := NewFleet(FleetOptions{Seed: 43, Devices: 500})
	if reflect.DeepEqual(a.Users, c.Users) {
		t.Fatal("different seeds gave the same fleet")
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	d := NewFleet(FleetOptions{Seed: 42, Devices: 500, Now: now})
	if !d.Now.Equal(now) || d.Users[0].Devices == nil && d.Users[1].Devices == nil {
		t.Fatalf("Now not honoured: %v", d.Now)
	}
	for _, u := range d.Users {
		for _, dv := range u.Devices {
			if dv.LastUsed.After(now) {
				t.Fatalf("drive used after now: %v", dv.LastUsed)
			}
		}
	}
}

// TestFleetSpread checks that a large fleet has the variety tests rely on.
func TestFleetSpread(t *testing.T) {
	f := NewFleet(FleetOptions{Seed: 1, Devices: 20000})
	var never, online, disabled, noUserGeo, zeroUsers, multi, unknownOU int
	status, version, country := map[string]int{}, map[string]int{}, map[string]int{}
	ous := map[int64]bool{}
	for _, ou := range f.OUs {
		ous[ou.ID] = true
	}
	var minAge, maxAge time.Duration = time.Hour * 1e6, 0
	for _, u := range f.Users {
		switch {
		case len(u.Devices) == 0:
			zeroUsers++
		case len(u.Devices) > 1:
			multi++
		}
		if u.Country == "" {
			noUserGeo++
		}
		if !ous[u.OU] {
			unknownOU++
		}
		for _, d := range u.Devices {
			status[d.Status]++
			version[d.Version]++
			country[d.Country]++
			if d.LastUsed.IsZero() {
				never++
			} else {
				age := f.Now.Sub(d.LastUsed)
				minAge, maxAge = min(minAge, age), max(maxAge, age)
			}
			if d.Online {
				online++
			}
			if d.Status == "DISABLED" {
				disabled++
			}
		}
	}
	n := f.DeviceCount()
	pct := func(x int) float64 { return 100 * float64(x) / float64(n) }
	if p := pct(never); p < 2 || p > 4 {
		t.Errorf("never used %.1f%%, want about 3%%", p)
	}
	if p := pct(online); p < 25 || p > 35 {
		t.Errorf("online %.1f%%, want about 30%%", p)
	}
	if p := pct(status["IN_USE"]); p < 85 || p > 95 {
		t.Errorf("IN_USE %.1f%%", p)
	}
	for _, st := range append(slices.Clone(Statuses), "") {
		if status[st] == 0 {
			t.Errorf("no drive with status %q", st)
		}
	}
	for _, v := range []string{"", "6.9.0", "6.10.1", "5.1.2"} {
		if version[v] == 0 {
			t.Errorf("no drive with version %q", v)
		}
	}
	if country[""] == 0 || country["Atlantic Ocean"] == 0 || len(country) < 12 {
		t.Errorf("countries too uniform: %v", country)
	}
	if zeroUsers == 0 || multi == 0 || noUserGeo == 0 || unknownOU == 0 || disabled == 0 {
		t.Errorf("missing variety: users without drives %d, with several %d, without geolocation %d, in unknown OU %d, disabled %d",
			zeroUsers, multi, noUserGeo, unknownOU, disabled)
	}
	if minAge > time.Hour || maxAge < 365*24*time.Hour {
		t.Errorf("last used ages span %v..%v, want minutes to years", minAge, maxAge)
	}
}

func TestFleetMutations(t *testing.T) {
	f := NewFleet(FleetOptions{Seed: 3, Devices: 20})
	c := f.Clone()
	c.Users[0].Devices[0].Serial = "CHANGED"
	if f.Users[0].Devices[0].Serial == "CHANGED" {
		t.Fatal("Clone shares device slices")
	}
	before := f.DeviceCount()
	first := f.Users[0].ID
	f.AddUser(User{ID: first - 1, Email: "new@example.com", Devices: []Device{{Serial: "NEW1"}, {Serial: "NEW2"}}})
	if f.Users[0].ID != first-1 || f.DeviceCount() != before+2 {
		t.Fatalf("AddUser did not insert in ID order: first ID %d, %d drives", f.Users[0].ID, f.DeviceCount())
	}
	f.AddUser(User{ID: first - 1, Email: "replaced@example.com"})
	if u, _ := f.User(first - 1); u.Email != "replaced@example.com" || f.DeviceCount() != before {
		t.Fatalf("AddUser with an existing ID did not replace: %+v", u)
	}
	last := f.Users[len(f.Users)-1].ID
	f.AddUser(User{Email: "auto@example.com"})
	if got := f.Users[len(f.Users)-1]; got.ID != last+1 || got.Email != "auto@example.com" {
		t.Fatalf("AddUser with zero ID: got ID %d", got.ID)
	}
	f.RemoveUser(first - 1)
	if _, ok := f.User(first - 1); ok {
		t.Fatal("RemoveUser left the user")
	}
	f.RemoveUser(-5) // absent: no effect
	f.Mutate(func(f *Fleet) { f.Users = f.Users[:1] })
	if len(f.Users) != 1 {
		t.Fatal("Mutate had no effect")
	}
}
