package safeconsole

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"testing"
)

// The sets must answer exactly as a Go map would, for every insert.

func TestIDSetMatchesMap(t *testing.T) {
	for _, hint := range []int{0, 1, 100, 82000} {
		s := newIDSet(hint)
		ref := map[int64]struct{}{}
		r := rand.New(rand.NewPCG(uint64(hint), 1))
		edges := []int64{0, 1, 63, 64, 65, s.limit - 1, s.limit, s.limit + 1, -1, math.MinInt64, math.MaxInt64}
		for i := 0; i < 50000; i++ {
			var id int64
			switch i % 4 {
			case 0:
				id = int64(r.IntN(3*hint/2*2 + 200)) // dense, with repeats
			case 1:
				id = edges[r.IntN(len(edges))]
			case 2:
				id = r.Int64() - math.MaxInt64/2
			default:
				id = s.limit - 1000 + int64(r.IntN(2000))
			}
			_, had := ref[id]
			ref[id] = struct{}{}
			if got := s.add(id); got == had {
				t.Fatalf("hint %d: add(%d) = %v, but the id was seen before: %v", hint, id, got, had)
			}
		}
		if s.len() != len(ref) {
			t.Fatalf("hint %d: len %d, want %d", hint, s.len(), len(ref))
		}
		if got, max := len(s.bits)*8, int(s.limit/8)+8; got > max {
			t.Errorf("hint %d: bitmap of %d bytes beyond its bound %d", hint, got, max)
		}
	}
}

func TestSerialSetMatchesMap(t *testing.T) {
	hashes := map[string]func(maphash.Seed, string) uint64{
		"maphash": maphash.String,
		// Every serial in one of four slots, same fingerprint: probing
		// and the exact comparison do all the work.
		"colliding": func(_ maphash.Seed, s string) uint64 { return uint64(len(s) % 4) },
		// Fingerprint zero, which means "empty" and must be remapped.
		"zero fingerprint": func(seed maphash.Seed, s string) uint64 {
			return maphash.String(seed, s) & 0xffffffff
		},
	}
	for name, h := range hashes {
		for _, hint := range []int{0, 1, 1000} {
			t.Run(fmt.Sprintf("%s/hint=%d", name, hint), func(t *testing.T) {
				s := newSerialSet(hint)
				s.hash = h
				s.resize(max(hint, 64)) // with the test's hash from the start
				ref := map[string]struct{}{}
				r := rand.New(rand.NewPCG(uint64(hint), 2))
				n := 20000
				if name == "colliding" {
					n = 2000 // quadratic by design
				}
				for i := 0; i < n; i++ {
					v := fmt.Sprintf("DL%07d", r.IntN(n))
					if i%10 == 0 {
						v = string([]byte{byte(r.IntN(3)), '"', 0xff})[:r.IntN(4)]
					}
					_, had := ref[v]
					ref[v] = struct{}{}
					if got := s.add(v); got == had {
						t.Fatalf("add(%q) = %v, but seen before: %v", v, got, had)
					}
				}
				if s.len() != len(ref) {
					t.Fatalf("len %d, want %d", s.len(), len(ref))
				}
				if 2*s.len() > len(s.slots) {
					t.Errorf("%d serials in %d slots: over half full", s.len(), len(s.slots))
				}
			})
		}
	}
}

// FuzzDedupeSets replays a byte string as inserts into both sets and a
// map each, with hash collisions forced for half of the serials.
func FuzzDedupeSets(f *testing.F) {
	f.Add([]byte("\x00\x01\x02\x00\x01\x02aaab"))
	f.Add(binary.LittleEndian.AppendUint64(nil, math.MaxUint64))
	f.Fuzz(func(t *testing.T, data []byte) {
		ids := newIDSet(len(data) % 300)
		serials := newSerialSet(len(data) % 7)
		serials.hash = func(seed maphash.Seed, s string) uint64 {
			if len(s) > 0 && s[0]&1 == 0 {
				return uint64(s[0]) // collide
			}
			return maphash.String(seed, s)
		}
		serials.resize(64)
		refIDs, refSerials := map[int64]bool{}, map[string]bool{}
		for len(data) >= 3 {
			n := int(data[0]%8) + 1
			if n > len(data)-1 {
				n = len(data) - 1
			}
			chunk := data[1 : 1+n]
			data = data[1+n:]
			var b [8]byte
			copy(b[:], chunk)
			id := int64(binary.LittleEndian.Uint64(b[:]))
			if chunk[0]&1 == 0 {
				id &= 0xffff // dense ids too
			}
			if got, want := ids.add(id), !refIDs[id]; got != want {
				t.Fatalf("ids.add(%d) = %v, want %v", id, got, want)
			}
			refIDs[id] = true
			v := string(chunk)
			if got, want := serials.add(v), !refSerials[v]; got != want {
				t.Fatalf("serials.add(%q) = %v, want %v", v, got, want)
			}
			refSerials[v] = true
		}
		if ids.len() != len(refIDs) || serials.len() != len(refSerials) {
			t.Fatalf("lengths %d/%d, want %d/%d", ids.len(), serials.len(), len(refIDs), len(refSerials))
		}
	})
}

func BenchmarkDedupe(b *testing.B) {
	const users, drives = 82000, 100000
	serials := make([]string, drives)
	for i := range serials {
		serials[i] = fmt.Sprintf("DL4%012d", i*7919%1000003)
	}
	b.Run("sets", func(b *testing.B) {
		for b.Loop() {
			ids, ss := newIDSet(users), newSerialSet(drives)
			for i := range users {
				ids.add(int64(100 + i*5/2))
			}
			for _, v := range serials {
				ss.add(v)
			}
		}
	})
	b.Run("maps", func(b *testing.B) {
		for b.Loop() {
			ids, ss := make(map[int64]struct{}, users), make(map[string]struct{}, drives)
			for i := range users {
				ids[int64(100+i*5/2)] = struct{}{}
			}
			for _, v := range serials {
				ss[v] = struct{}{}
			}
		}
	})
}
