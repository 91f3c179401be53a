package safeconsoletest

import (
	"reflect"
	"testing"
	"time"
)

// handFleet is small enough that every expected number below is worked out
// by hand from it.
func handFleet() *Fleet {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	day := 24 * time.Hour
	return &Fleet{
		Now: now,
		OUs: []OU{{ID: 1, Path: "00.default"}, {ID: 5, Path: "01.sales"}},
		Users: []User{
			{ID: 10, OU: 1, Country: "Germany", Devices: []Device{
				{Serial: "A1", Status: "IN_USE", Online: true, Updated: true, Version: "6.10.1", LastUsed: ago(30 * time.Minute)},
				{Serial: "A2", Status: "DISABLED", Version: "6.9.3", LastUsed: ago(2 * day), Country: "France"},
			}},
			{ID: 20, OU: 5, Devices: []Device{
				{Serial: "A3"}, // nothing known, never used
				{Serial: "A4", Status: "LOST", Online: true, Updated: true, Version: "6.10.1", LastUsed: ago(400 * day), Country: "Atlantic Ocean"},
			}},
			{ID: 30, OU: 99, Country: "Sweden"}, // OU not in the list, no drives
			{ID: 40, OU: 1, Country: "Germany", Devices: []Device{
				{Serial: "A5", Status: "IN_USE", Updated: true, Version: "6.10.1", LastUsed: ago(time.Hour)}, // exactly on the 1h bound
				{Serial: "A6", Status: "IN_USE", Version: "6.9.10", LastUsed: ago(100 * day), Country: "Germany"},
			}},
		},
	}
}

func TestTallyByHand(t *testing.T) {
	g1 := GroupKey{"00.default", "Germany", "6.10.1"}
	g2 := GroupKey{"00.default", "France", "6.9.3"}
	g3 := GroupKey{"01.sales", "unknown", "unknown"}
	g4 := GroupKey{"01.sales", "Atlantic Ocean", "6.10.1"}
	g5 := GroupKey{"00.default", "Germany", "6.9.10"}
	b := DefaultBuckets
	want := Tally{
		Devices: map[DeviceKey]int{
			{"00.default", "Germany", "6.10.1", "in_use"}:    2,
			{"00.default", "France", "6.9.3", "disabled"}:    1,
			{"01.sales", "unknown", "unknown", "unknown"}:    1,
			{"01.sales", "Atlantic Ocean", "6.10.1", "lost"}: 1,
			{"00.default", "Germany", "6.9.10", "in_use"}:    1,
		},
		Online:    map[GroupKey]int{g1: 1, g2: 0, g3: 0, g4: 1, g5: 0},
		Disabled:  map[GroupKey]int{g1: 0, g2: 1, g3: 0, g4: 0, g5: 0},
		Outdated:  map[GroupKey]int{g1: 0, g2: 1, g3: 1, g4: 0, g5: 1},
		NeverSeen: map[GroupKey]int{g1: 0, g2: 0, g3: 1, g4: 0, g5: 0},
		LastSeen: map[GroupKey]*AgeHistogram{
			g1: {Buckets: b, Counts: []uint64{2, 2, 2, 2, 2, 2}, Count: 2, Sum: 1800 + 3600},
			g2: {Buckets: b, Counts: []uint64{0, 0, 1, 1, 1, 1}, Count: 1, Sum: 2 * 86400},
			g3: {Buckets: b, Counts: []uint64{0, 0, 0, 0, 0, 0}},
			g4: {Buckets: b, Counts: []uint64{0, 0, 0, 0, 0, 0}, Count: 1, Sum: 400 * 86400},
			g5: {Buckets: b, Counts: []uint64{0, 0, 0, 0, 0, 1}, Count: 1, Sum: 100 * 86400},
		},
		Users: map[string]int{"00.default": 2, "01.sales": 1, "99": 1},
	}
	got := handFleet().Tally(TallyOptions{})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Tally mismatch\n got  %+v\n want %+v", got, want)
		for k, h := range got.LastSeen {
			t.Logf("LastSeen %v: %+v", k, *h)
		}
	}

	// A minimum version replaces the isUpdated flag where the drive has a
	// version (g3's has none, so its isUpdated false still counts); 6.9.10
	// is above 6.9.5 (a string comparison would say otherwise) and below
	// 6.10.0.
	got = handFleet().Tally(TallyOptions{MinimumVersion: "6.10.0"})
	if w := (map[GroupKey]int{g1: 0, g2: 1, g3: 1, g4: 0, g5: 1}); !reflect.DeepEqual(got.Outdated, w) {
		t.Errorf("Outdated with minimum 6.10.0 = %v, want %v", got.Outdated, w)
	}
	got = handFleet().Tally(TallyOptions{MinimumVersion: "6.9.5"})
	if w := (map[GroupKey]int{g1: 0, g2: 1, g3: 1, g4: 0, g5: 0}); !reflect.DeepEqual(got.Outdated, w) {
		t.Errorf("Outdated with minimum 6.9.5 = %v, want %v", got.Outdated, w)
	}

	// Custom buckets and a later "now": everything one day older.
	got = handFleet().Tally(TallyOptions{Buckets: []float64{86400 * 2}, Now: handFleet().Now.Add(24 * time.Hour)})
	if h := got.LastSeen[g1]; !reflect.DeepEqual(h.Counts, []uint64{2}) || h.Sum != 2*86400+1800+3600 {
		t.Errorf("custom buckets g1 = %+v", *h)
	}
	if h := got.LastSeen[g2]; !reflect.DeepEqual(h.Counts, []uint64{0}) || h.Count != 1 {
		t.Errorf("custom buckets g2 = %+v", *h)
	}
}

func TestDeviceTruths(t *testing.T) {
	f := handFleet()
	all := f.DeviceTruths(TallyOptions{})
	if len(all) != 6 || all[0].Serial != "A1" || all[5].Serial != "A6" {
		t.Fatalf("DeviceTruths order wrong: %+v", all)
	}
	d, ok := f.LookupDevice("A3", TallyOptions{})
	want := DeviceTruth{Serial: "A3", UserID: 20, OU: "01.sales", Country: "unknown", Version: "unknown",
		Status: "unknown", Outdated: true, NeverUsed: true}
	if !ok || d != want {
		t.Errorf("LookupDevice(A3) = %+v, want %+v", d, want)
	}
	d, _ = f.LookupDevice("A1", TallyOptions{})
	if d.Country != "Germany" || d.AgeSeconds != 1800 || !d.LastUsed.Equal(f.Now.Add(-30*time.Minute)) || d.Group() != (GroupKey{"00.default", "Germany", "6.10.1"}) {
		t.Errorf("LookupDevice(A1) = %+v", d)
	}
	if _, ok := f.LookupDevice("NOPE", TallyOptions{}); ok {
		t.Error("LookupDevice found a serial that does not exist")
	}
}

func TestOutdatedRule(t *testing.T) {
	for _, c := range []struct {
		version, minimum string
		updated, want    bool
	}{
		{"6.9.0", "", true, false},
		{"6.9.0", "", false, true},
		{"6.9", "6.9.0", true, false}, // missing components are 0
		{"6.9.0.1", "6.9", false, false},
		{"6.10", "6.9", false, false},
		{"6.9", "6.10", true, true},
		{"", "6.10", false, true},                  // unknown version: isUpdated decides
		{"", "6.10", true, false},                  // unknown version: isUpdated decides
		{"6.10.1-beta", "6.10.2", true, false},     // non-numeric: isUpdated decides
		{"6.10.1-beta", "6.10.2", false, true},     // non-numeric: isUpdated decides
		{"6.9.1", "latest", false, true},           // non-numeric minimum: isUpdated decides
		{"1..2", "1.0.2", true, false},             // empty component is not numeric
		{"99999999999999999999", "1", true, false}, // overflow is not numeric
	} {
		d := &Device{Version: c.version, Updated: c.updated}
		if got := outdated(d, c.minimum); got != c.want {
			t.Errorf("outdated(%q, min %q, updated %v) = %v, want %v", c.version, c.minimum, c.updated, got, c.want)
		}
	}
}

func TestAppendTime(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2020, 8, 31, 19, 58, 14, 0, time.UTC),
		time.Date(1999, 1, 2, 3, 4, 5, 999, time.FixedZone("x", 3600)),
		time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		want := `"` + tm.UTC().Format("2006-01-02T15:04:05Z") + `"`
		if got := string(appendTime(nil, tm)); got != want {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
	if got := string(appendTime(nil, time.Time{})); got != "null" {
		t.Errorf("zero time = %s", got)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
		ok   bool
	}{
		{"6.10.1", "6.9.9", 1, true},
		{"6.9", "6.9.0.0", 0, true},
		{"6.9.0.1", "6.9", 1, true},
		{"1", "2", -1, true},
		{"1.", "1", 0, false},
		{".1", "1", 0, false},
		{"1.x", "1", 0, false},
		{"1", "1.2b", 0, false},
		{"2.0", "10", -1, true},
	} {
		got, ok := compareVersions(c.a, c.b)
		if got != c.want || ok != c.ok {
			t.Errorf("compareVersions(%q, %q) = %d, %v; want %d, %v", c.a, c.b, got, ok, c.want, c.ok)
		}
	}
}
