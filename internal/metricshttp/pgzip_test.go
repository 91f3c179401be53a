package metricshttp

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	br := bytes.NewReader(b)
	zr, err := gzip.NewReader(br)
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false) // one member, not several glued together
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("decompressing: %v", err)
	}
	if br.Len() != 0 {
		t.Fatalf("%d bytes after the first gzip member", br.Len())
	}
	return out
}

// TestParallelGzipRoundTrip: any input, written in any pieces, comes back
// exactly, as one gzip member, checksum and length included.
func TestParallelGzipRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	text := bytes.Repeat([]byte("safeconsole_device_online{serial=\"DL4000123\"} 1\n"), gzipBlockSize/20)
	noise := make([]byte, 3*gzipBlockSize+12345)
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	for _, in := range [][]byte{
		nil, []byte("x"), text[:gzipBlockSize-1], text[:gzipBlockSize], text[:gzipBlockSize+1],
		text, noise, append(append([]byte{}, text...), noise...),
	} {
		for _, piece := range []int{1 << 30, 1, 4093, gzipBlockSize} {
			if piece == 1 && len(in) > 1<<16 {
				continue
			}
			var out bytes.Buffer
			z := newParallelGzip(&out)
			for rest := in; len(rest) > 0; {
				n := min(piece, len(rest))
				if w, err := z.Write(rest[:n]); err != nil || w != n {
					t.Fatalf("Write = %d, %v", w, err)
				}
				rest = rest[n:]
			}
			if err := z.Close(); err != nil {
				t.Fatal(err)
			}
			if got := gunzip(t, out.Bytes()); !bytes.Equal(got, in) {
				t.Fatalf("%d bytes in pieces of %d: got %d bytes back, not the same", len(in), piece, len(got))
			}
		}
	}
}

// TestParallelGzipReadByGzipTool: the system's gzip, where there is one,
// reads it too.
func TestParallelGzipReadByGzipTool(t *testing.T) {
	path, err := exec.LookPath("gzip")
	if err != nil {
		t.Skip("no gzip command")
	}
	in := bytes.Repeat([]byte("safeconsole_device_info{country=\"DE\"} 1\n"), 3*gzipBlockSize/40)
	var out bytes.Buffer
	z := newParallelGzip(&out)
	z.Write(in)
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "-dc")
	cmd.Stdin = &out
	got, err := cmd.Output()
	if err != nil || !bytes.Equal(got, in) {
		t.Fatalf("gzip -dc: %v, %d bytes back of %d", err, len(got), len(in))
	}
}

type failingWriter struct{ after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("client went away")
	}
	f.after--
	return len(p), nil
}

// TestParallelGzipWriteError: a failing client ends the writer with its
// error and leaves no compressor running.
func TestParallelGzipWriteError(t *testing.T) {
	before := runtime.NumGoroutine()
	in := bytes.Repeat([]byte("abcdefgh"), 20*gzipBlockSize/8)
	for _, after := range []int{0, 1, 3} {
		z := newParallelGzip(&failingWriter{after: after})
		var werr error
		for rest := in; len(rest) > 0 && werr == nil; rest = rest[min(len(rest), 100000):] {
			_, werr = z.Write(rest[:min(len(rest), 100000)])
		}
		cerr := z.Close()
		if werr == nil && cerr == nil {
			t.Fatalf("failing after %d writes: no error", after)
		}
		if _, err := z.Write([]byte("more")); err == nil {
			t.Fatalf("write after close accepted")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines left running, %d before", n, before)
	}
}
