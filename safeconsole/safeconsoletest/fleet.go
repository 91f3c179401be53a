// Package safeconsoletest provides a simulated SafeConsole REST API server for
// tests, benchmarks and demonstrations, in the spirit of net/http/httptest.
//
// A Fleet is a deterministic, generated set of users and their drives. A
// Server serves a Fleet over real HTTP (or HTTPS) on 127.0.0.1 with the
// SafeConsole request and answer shapes, and can inject faults. Tally
// computes, independently of any client, what an exporter reading the fleet
// should report, so tests can compare the two.
//
// The package deliberately imports nothing from the exporter: it is a second,
// independent implementation of the label rules, so that a comparison between
// the two means something.
package safeconsoletest

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"
)

// DefaultNow is the reference time of generated fleets when FleetOptions.Now
// is zero. It is fixed so that generated fleets do not depend on the clock.
var DefaultNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// FleetOptions selects the fleet NewFleet generates.
type FleetOptions struct {
	Seed    int64     // same seed and options give an identical fleet, byte for byte
	Devices int       // exact number of drives in the fleet
	Now     time.Time // reference "now" for last-used times; zero means DefaultNow
}

// OU is an organisational unit. Path is SafeConsole's dotted hierarchy
// ("00.default", "01.sales.emea").
type OU struct {
	ID   int64
	Path string
}

// User is one entry of the SafeConsole user list; drives hang off users.
type User struct {
	ID        int64
	Email     string
	CN        string
	OU        int64 // OU ID; may name an OU that is not in Fleet.OUs
	LastLogin time.Time
	LastIP    string
	Country   string // user geolocation country; "" means no geolocation object at all
	Devices   []Device
}

// Device is one drive ("safestick" in the API).
type Device struct {
	Serial        string
	SerialBarcode string
	HardwareID    string
	Owner         string
	Status        string // SafeConsole API status string such as "IN_USE" or "DISABLED"; "" is possible
	Online        bool
	Updated       bool
	Version       string    // firmware/client version such as "6.10.1"; "" when unknown
	LastUsed      time.Time // zero means never used
	LastIP        string
	Country       string // drive geolocation country; "" means none (the owner's applies)
}

// Fleet is a simulated SafeConsole installation.
//
// A Fleet that a Server is serving must only be changed through AddUser,
// RemoveUser or Mutate: they take the fleet's lock, which the server holds
// while it reads, and they tell the server's sort cache that the data moved.
// A Fleet holds a lock, so use it by pointer and copy it with Clone.
type Fleet struct {
	Now   time.Time
	OUs   []OU
	Users []User // in ascending ID order; IDs unique and positive

	mu      sync.RWMutex
	version uint64 // bumped by every locked mutation; part of the server's cache key
}

// Statuses lists every drive status string the simulator generates, besides "".
var Statuses = []string{
	"IN_USE", "LOST", "WAITING_FOR_DISABLE", "DISABLED", "DENIED_ACCESS",
	"WAITING_FOR_RESET", "FACTORY_RESET", "PENDING_AUDIT_MODE", "AUDIT_MODE",
	"WAITING_FOR_APPROVAL", "APPROVED", "PENDING_DETONATE", "DETONATED",
}

// rng is splitmix64. It is written out here rather than taken from math/rand
// so that fleets stay byte-identical across Go releases.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// pick returns the index chosen by weights (which need not sum to anything).
func (r *rng) pick(weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.intn(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

var ouPaths = []string{
	"00.default", "01.sales", "01.sales.emea", "02.engineering", "03.finance",
	"04.hr", "05.support", "08.zonebuild", "01.sales.americas", "02.engineering.qa",
	"06.legal", "07.operations", "07.operations.field", "09.executive", "10.contractors",
}

var countries = []string{
	"United States", "Germany", "United Kingdom", "France", "Sweden",
	"Canada", "Japan", "Australia", "Brazil", "India",
}
var countryWeights = []int{30, 14, 12, 9, 8, 8, 6, 5, 4, 4}

var versions = []string{"5.1.2", "5.3.0", "6.2.4", "6.9.0", "6.9.3", "6.10.1", "6.10.2", ""}
var versionWeights = []int{5, 8, 12, 15, 20, 25, 14, 1}

// statusWeights is per mille, aligned with Statuses plus a final "".
var statusWeights = []int{900, 15, 5, 30, 8, 4, 5, 3, 4, 6, 6, 2, 4, 8}

// drivesPerUser weights 0..5 drives.
var drivesPerUser = []int{10, 70, 12, 5, 2, 1}

var firstNames = []string{
	"anna", "bjorn", "carla", "deepak", "elena", "farid", "grace", "hiro", "ines", "jonas",
	"kofi", "lena", "marco", "nora", "omar", "priya", "quinn", "rosa", "sven", "tariq",
}
var lastNames = []string{
	"berg", "chen", "dubois", "eriksen", "fischer", "garcia", "haddad", "ito", "jensen", "kowalski",
	"larsen", "moreau", "novak", "okafor", "patel", "rossi", "schmidt", "tanaka", "vargas", "weber",
}

const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// NewFleet generates a fleet. The result depends only on o.
func NewFleet(o FleetOptions) *Fleet {
	now := o.Now
	if now.IsZero() {
		now = DefaultNow
	}
	now = now.UTC()
	r := &rng{s: uint64(o.Seed)*0x2545f4914f6cdd1d + 0x1234567}
	f := &Fleet{Now: now}

	nOU := 8 + r.intn(8)
	id := int64(1)
	for i := 0; i < nOU; i++ {
		f.OUs = append(f.OUs, OU{ID: id, Path: ouPaths[i]})
		id += 1 + int64(r.intn(3))
	}
	ouWeights := make([]int, nOU)
	for i := range ouWeights {
		ouWeights[i] = 10
	}
	ouWeights[0] = 30 // most users stay in the default OU

	const maxAge = 3 * 365 * 24 * 3600.0
	serialIdx := uint64(0)
	userID := int64(100 + r.intn(50))
	remaining := o.Devices
	if remaining > 0 {
		f.Users = make([]User, 0, remaining*10/12+1)
	}
	for remaining > 0 {
		u := User{ID: userID}
		userID += 1 + int64(r.intn(4)) // gaps, as after deletions
		fn, ln := firstNames[r.intn(len(firstNames))], lastNames[r.intn(len(lastNames))]
		u.Email = fmt.Sprintf("%s.%s%d@example.com", fn, ln, u.ID)
		if r.intn(100) < 85 {
			u.CN = string(fn[0]-'a'+'A') + fn[1:] + " " + string(ln[0]-'a'+'A') + ln[1:]
		}
		if r.intn(200) == 0 {
			u.OU = 900 + int64(r.intn(5)) // an OU the list of OUs does not know
		} else {
			u.OU = f.OUs[r.pick(ouWeights)].ID
		}
		if r.intn(50) != 0 {
			u.LastLogin = now.Add(-time.Duration(r.float() * 400 * 24 * float64(time.Hour))).Truncate(time.Second)
		}
		if r.intn(20) != 0 {
			u.LastIP = fmt.Sprintf("10.%d.%d.%d", r.intn(256), r.intn(256), 1+r.intn(254))
		}
		if r.intn(100) >= 15 {
			u.Country = countries[r.pick(countryWeights)]
		}
		n := min(r.pick(drivesPerUser), remaining)
		if n > 0 {
			u.Devices = make([]Device, n)
		}
		for j := range u.Devices {
			d := &u.Devices[j]
			d.Serial = makeSerial(r, serialIdx)
			serialIdx++
			d.SerialBarcode = d.Serial
			if r.intn(10) == 0 {
				d.SerialBarcode = randomString(r, 15)
			}
			d.HardwareID = fmt.Sprintf("%08X", uint32(r.next()))
			if r.intn(100) >= 7 {
				d.Owner = u.Email
			}
			if s := r.pick(statusWeights); s < len(Statuses) {
				d.Status = Statuses[s]
			}
			onlinePct := 33
			if d.Status != "IN_USE" {
				onlinePct = 5
			}
			d.Online = r.intn(100) < onlinePct
			d.Version = versions[r.pick(versionWeights)]
			switch d.Version {
			case "6.10.2":
				d.Updated = true
			case "6.10.1", "":
				d.Updated = r.intn(2) == 0
			}
			if r.intn(50) == 0 { // the server's flag is not always consistent with the version
				d.Updated = !d.Updated
			}
			if r.intn(100) >= 3 {
				age := 60 * math.Exp(r.float()*math.Log(maxAge/60)) // minutes to years, log-uniform
				d.LastUsed = now.Add(-time.Duration(age * float64(time.Second))).Truncate(time.Second)
			}
			switch c := r.intn(100); {
			case c < 10:
				// no drive geolocation: the owner's country applies
			case c < 12:
				d.Country = "Atlantic Ocean"
				d.LastIP = "127.0.0.1"
			case c < 80 && u.Country != "":
				d.Country = u.Country
			default:
				d.Country = countries[r.pick(countryWeights)]
			}
			if d.LastIP == "" && !d.LastUsed.IsZero() && r.intn(10) != 0 {
				d.LastIP = fmt.Sprintf("192.168.%d.%d", r.intn(256), 1+r.intn(254))
			}
		}
		remaining -= n
		f.Users = append(f.Users, u)
	}
	return f
}

// makeSerial returns a 15-character upper-case alphanumeric serial: seven
// random characters and an eight-character base-36 suffix that is a bijection
// of idx, so serials are unique without a lookup table.
func makeSerial(r *rng, idx uint64) string {
	var b [15]byte
	for i := 0; i < 7; i++ {
		b[i] = alnum[r.intn(36)]
	}
	const space = 36 * 36 * 36 * 36 * 36 * 36 * 36 * 36
	v := (idx*0x5DEECE66D + 0x1A2B3C4D5E) % space // multiplier is coprime with 36
	for i := 14; i >= 7; i-- {
		b[i] = alnum[v%36]
		v /= 36
	}
	return string(b[:])
}

func randomString(r *rng, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[r.intn(36)]
	}
	return string(b)
}

// DeviceCount returns the number of drives in the fleet.
func (f *Fleet) DeviceCount() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := 0
	for i := range f.Users {
		n += len(f.Users[i].Devices)
	}
	return n
}

// AddUser inserts u at its place in ID order, replacing a user with the same
// ID. A zero ID is replaced by one above the largest ID in use.
func (f *Fleet) AddUser(u User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	if u.ID == 0 {
		u.ID = 1
		if n := len(f.Users); n > 0 {
			u.ID = f.Users[n-1].ID + 1
		}
	}
	i := sort.Search(len(f.Users), func(i int) bool { return f.Users[i].ID >= u.ID })
	if i < len(f.Users) && f.Users[i].ID == u.ID {
		f.Users[i] = u
		return
	}
	f.Users = slices.Insert(f.Users, i, u)
}

// RemoveUser removes the user with the given ID, if present.
func (f *Fleet) RemoveUser(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	i := sort.Search(len(f.Users), func(i int) bool { return f.Users[i].ID >= id })
	if i < len(f.Users) && f.Users[i].ID == id {
		f.Users = slices.Delete(f.Users, i, i+1)
	}
}

// Mutate runs fn with the fleet locked for writing, so fn may change any
// field while a Server serves the fleet. fn must keep Users in ID order and
// must not call other Fleet methods (the lock is not re-entrant).
func (f *Fleet) Mutate(fn func(f *Fleet)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	fn(f)
}

// Clone returns a deep copy of the fleet.
func (f *Fleet) Clone() *Fleet {
	f.mu.RLock()
	defer f.mu.RUnlock()
	c := &Fleet{Now: f.Now, OUs: slices.Clone(f.OUs)}
	if f.Users != nil {
		c.Users = make([]User, len(f.Users))
		for i, u := range f.Users {
			u.Devices = slices.Clone(u.Devices)
			c.Users[i] = u
		}
	}
	return c
}

// User returns a copy of the user with the given ID.
func (f *Fleet) User(id int64) (User, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	i := sort.Search(len(f.Users), func(i int) bool { return f.Users[i].ID >= id })
	if i < len(f.Users) && f.Users[i].ID == id {
		u := f.Users[i]
		u.Devices = slices.Clone(u.Devices)
		return u, true
	}
	return User{}, false
}
