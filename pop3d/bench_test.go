package pop3d

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkRetr measures RETR throughput over loopback for a 1 MiB
// message, including the client reading the dot-stuffed response.
func BenchmarkRetr(b *testing.B) {
	e := newEnv(b, nil)
	e.deliver(bigMessage(1 << 20))
	infos, _, _ := e.inbox()
	c := e.dial()
	c.login()
	want := fmt.Sprintf("+OK %d octets", infos[0].Size)
	b.SetBytes(infos[0].Size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c.cmd("RETR 1", want)
		if err := skipDotBody(c.tp.R); err != nil {
			b.Fatal(err)
		}
	}
}

// skipDotBody reads a multi-line response without keeping it.
func skipDotBody(r *bufio.Reader) error {
	for {
		l, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return err
		}
		if len(l) == 3 && l[0] == '.' && l[1] == '\r' {
			return nil
		}
	}
}

// BenchmarkCopyDotStuffed measures the stuffing itself, in memory.
func BenchmarkCopyDotStuffed(b *testing.B) {
	msg := bigMessage(1 << 20)
	w := bufio.NewWriterSize(io.Discard, 32<<10)
	r := strings.NewReader(msg)
	br := bufio.NewReaderSize(r, copyBufferSize)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(msg)
		br.Reset(r)
		if _, err := copyDotStuffed(w, br, -1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRetrMany4KiB measures what mailbench's pop3 workload does: one
// RETR after another, each waiting for its answer, of many 4 KiB
// messages. Here the per-message cost (open, small writes, buffers)
// dominates, not the copying.
func BenchmarkRetrMany4KiB(b *testing.B) {
	const n = 500
	e := newEnv(b, nil)
	msg := bigMessage(4096)
	for range n {
		e.deliver(msg)
	}
	infos, _, _ := e.inbox()
	c := e.dial()
	c.login()
	var total int64
	want := make([]string, n)
	for i, m := range infos {
		total += m.Size
		want[i] = fmt.Sprintf("+OK %d octets", m.Size)
	}
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i := range n {
			c.cmd("RETR "+strconv.Itoa(i+1), want[i])
			if err := skipDotBody(c.tp.R); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/message")
}
