package metricshttp

import (
	"compress/flate"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"runtime"
	"sync"
)

// parallelGzip writes one standard gzip member whose deflate stream is
// compressed in blocks on several cores at once, as pigz does: each block
// is compressed on its own and ended with a sync flush (so the blocks
// concatenate into one valid stream), the last one with the final block.
// With per-drive series the exposition is tens of megabytes, and
// compressing it on one core took longer than everything else the
// scrape does after its last page.
//
// Blocks are compressed in the background, but only the goroutine that
// calls Write and Close writes to the underlying writer, in order.
type parallelGzip struct {
	w       io.Writer
	block   []byte // input not yet handed to a compressor
	pending []*gzipBlock
	limit   int // blocks in flight before Write waits for the oldest
	crc     uint32
	size    uint32 // input length mod 2^32, as the trailer wants
	err     error
	started bool
	closed  bool
}

type gzipBlock struct {
	in   []byte
	out  []byte
	err  error
	done chan struct{}
}

const gzipBlockSize = 1 << 20

func newParallelGzip(w io.Writer) *parallelGzip {
	return &parallelGzip{w: w, limit: 2 * runtime.GOMAXPROCS(0)}
}

var (
	blockPool = sync.Pool{New: func() any { b := make([]byte, 0, gzipBlockSize); return &b }}
	flatePool = sync.Pool{New: func() any {
		fw, _ := flate.NewWriter(nil, gzipLevel) // a valid level: no error
		return fw
	}}
)

func (z *parallelGzip) Write(p []byte) (int, error) {
	if z.closed {
		return 0, errors.New("write to a closed gzip writer")
	}
	if z.err != nil {
		return 0, z.err
	}
	z.crc = crc32.Update(z.crc, crc32.IEEETable, p)
	z.size += uint32(len(p))
	n := len(p)
	for len(p) > 0 {
		if z.block == nil {
			z.block = (*blockPool.Get().(*[]byte))[:0]
		}
		take := min(len(p), gzipBlockSize-len(z.block))
		z.block = append(z.block, p[:take]...)
		p = p[take:]
		if len(z.block) == gzipBlockSize {
			z.dispatch(false)
			if err := z.drain(z.limit); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// dispatch starts compressing the current block.
func (z *parallelGzip) dispatch(final bool) {
	b := &gzipBlock{in: z.block, done: make(chan struct{})}
	z.block = nil
	z.pending = append(z.pending, b)
	go func() {
		defer close(b.done)
		out := &sliceWriter{b: make([]byte, 0, len(b.in)/4+64)}
		fw := flatePool.Get().(*flate.Writer)
		fw.Reset(out)
		_, err := fw.Write(b.in)
		if err == nil {
			if final {
				err = fw.Close()
			} else {
				err = fw.Flush()
			}
		}
		flatePool.Put(fw)
		in := b.in[:0]
		blockPool.Put(&in)
		b.in, b.out, b.err = nil, out.b, err
	}()
}

// drain writes finished blocks, oldest first, until at most keep are in
// flight.
func (z *parallelGzip) drain(keep int) error {
	for len(z.pending) > keep {
		b := z.pending[0]
		<-b.done
		z.pending = z.pending[1:]
		if z.err != nil {
			continue // still wait for every block, so none outlives the writer
		}
		if b.err != nil {
			z.err = b.err
			continue
		}
		if !z.started {
			z.started = true
			if _, err := z.w.Write(gzipHeader); err != nil {
				z.err = err
				continue
			}
		}
		if _, err := z.w.Write(b.out); err != nil {
			z.err = err
		}
	}
	return z.err
}

// gzipHeader: magic, deflate, no flags, no time, no extra flags, unknown OS.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// Close compresses what is left as the final block, writes everything
// in order and the trailer (CRC-32 and length of the input).
func (z *parallelGzip) Close() error {
	if z.closed {
		return z.err
	}
	z.closed = true
	if z.block == nil {
		z.block = (*blockPool.Get().(*[]byte))[:0]
	}
	z.dispatch(true)
	if err := z.drain(0); err != nil {
		return err
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], z.crc)
	binary.LittleEndian.PutUint32(trailer[4:], z.size)
	_, z.err = z.w.Write(trailer[:])
	return z.err
}

type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}
