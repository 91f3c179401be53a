package safeconsole

import (
	"hash/maphash"
	"math/bits"
)

// The scan remembers every user id and drive serial it has delivered, to
// drop an entry that a shifting list serves twice. At 100,000 drives these
// sets are the largest structures a scan touches at random, one insert per
// user and per drive, and with Go maps each insert was a cache miss or two
// (0.3-0.6 µs per drive in a live scrape). User ids from a database are
// small, dense integers: a bitmap holds them in a few kilobytes. Serials
// are strings: an open-addressing table of 8-byte slots (a 32-bit
// fingerprint and the serial's index, half of them empty) finds a new one
// in a single cache line, without following a pointer, and checks a
// matching fingerprint against the serial itself, so the set is exact.

// maxDedupeHint bounds the pre-sizing of the dedupe sets.
const maxDedupeHint = 1 << 18

// Deduper drops the users and drives of a page that earlier pages of the
// same scan delivered already. Scan uses one per pass; it is exported for
// the benchmarks, which replay pages through the same steps.
type Deduper struct {
	users   *idSet
	serials *serialSet
	keep    []int // user index remap, reused
}

// NewDeduper sizes the sets for a list of about total users (the first
// page's word, so bounded).
func NewDeduper(total int64) *Deduper {
	hint := int(min(max(total, 0), maxDedupeHint))
	return &Deduper{users: newIDSet(hint), serials: newSerialSet(hint + hint/4)}
}

// Page removes from p, in place, the users already delivered (with their
// drives) and the drives already delivered under another user, and
// returns how many of each it removed.
func (d *Deduper) Page(p *Page) (dupUsers, dupDevices int) {
	keep := d.keep[:0]
	users := p.Users[:0]
	for _, u := range p.Users {
		if !d.users.add(u.ID) {
			keep = append(keep, -1)
			dupUsers++
			continue
		}
		keep = append(keep, len(users))
		users = append(users, u)
	}
	devices := p.Devices[:0]
	for _, dev := range p.Devices {
		ui := keep[dev.User]
		if ui < 0 {
			continue // its user was a duplicate: counted with the first copy
		}
		if !d.serials.add(dev.Serial) {
			dupDevices++
			continue
		}
		dev.User = ui
		devices = append(devices, dev)
	}
	clear(p.Devices[len(devices):])
	p.Users, p.Devices = users, devices
	d.keep = keep
	return dupUsers, dupDevices
}

// idSet is a set of int64 ids: a bitmap for ids in [0, bitmapLimit), a map
// for the rest.
type idSet struct {
	bits  []uint64
	limit int64 // ids below this go to the bitmap
	other map[int64]struct{}
	n     int
}

// newIDSet sizes the bitmap for about hint ids: ids up to 64 times that
// (at least 2^20) are kept as bits, at most 1/8 byte per id of the range.
func newIDSet(hint int) *idSet {
	limit := max(int64(hint)*64, 1<<20)
	return &idSet{limit: limit, other: make(map[int64]struct{})}
}

// add inserts id and reports whether it was new.
func (s *idSet) add(id int64) bool {
	if id < 0 || id >= s.limit {
		n := len(s.other)
		s.other[id] = struct{}{}
		if len(s.other) == n {
			return false
		}
		s.n++
		return true
	}
	w := int(id >> 6)
	if w >= len(s.bits) {
		// Grow to the id seen, doubling, within the limit.
		size := max(w+1, 2*len(s.bits), 64)
		size = min(size, int((s.limit+63)>>6))
		grown := make([]uint64, size)
		copy(grown, s.bits)
		s.bits = grown
	}
	mask := uint64(1) << (uint(id) & 63)
	if s.bits[w]&mask != 0 {
		return false
	}
	s.bits[w] |= mask
	s.n++
	return true
}

func (s *idSet) len() int { return s.n }

// serialSet is an exact set of strings.
type serialSet struct {
	seed maphash.Seed
	hash func(seed maphash.Seed, s string) uint64 // maphash.String; tests force collisions
	// slots hold a serial's fingerprint (never 0: 0 is empty) in the high
	// half and its index in serials in the low half, so that a lookup and
	// an insert touch one cache line of one array.
	slots   []uint64
	mask    uint64
	serials []string
}

func newSerialSet(hint int) *serialSet {
	s := &serialSet{seed: maphash.MakeSeed(), hash: maphash.String, serials: make([]string, 0, hint)}
	s.resize(max(hint, 64))
	return s
}

// resize makes room for n serials at a load of at most one half.
func (s *serialSet) resize(n int) {
	size := 1 << bits.Len(uint(2*n-1))
	s.slots = make([]uint64, size)
	s.mask = uint64(size - 1)
	for i, v := range s.serials {
		h := s.hash(s.seed, v)
		slot := h & s.mask
		for s.slots[slot] != 0 {
			slot = (slot + 1) & s.mask
		}
		s.slots[slot] = fingerprint(h) | uint64(i)
	}
}

// fingerprint takes the hash's high bits (the low ones pick the slot) as
// a slot's high half.
func fingerprint(h uint64) uint64 {
	fp := h &^ 0xffffffff
	if fp == 0 {
		fp = 1 << 32
	}
	return fp
}

// add inserts v and reports whether it was new.
func (s *serialSet) add(v string) bool {
	h := s.hash(s.seed, v)
	slot, fp := h&s.mask, fingerprint(h)
	for {
		e := s.slots[slot]
		if e == 0 {
			break
		}
		if e&^0xffffffff == fp && s.serials[uint32(e)] == v {
			return false
		}
		slot = (slot + 1) & s.mask
	}
	if 2*(len(s.serials)+1) > len(s.slots) {
		s.serials = append(s.serials, v)
		s.resize(len(s.serials)) // places v too
		return true
	}
	s.slots[slot] = fp | uint64(len(s.serials))
	s.serials = append(s.serials, v)
	return true
}

func (s *serialSet) len() int { return len(s.serials) }
