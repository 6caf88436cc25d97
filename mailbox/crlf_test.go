package mailbox

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// crlfByByte is the reading rule in its plainest form, the reference for
// crlfReader: an LF not preceded by CR on disk becomes CRLF.
func crlfByByte(disk string) string {
	var b strings.Builder
	for i := 0; i < len(disk); i++ {
		if disk[i] == '\n' && (i == 0 || disk[i-1] != '\r') {
			b.WriteByte('\r')
		}
		b.WriteByte(disk[i])
	}
	return b.String()
}

// readChunks reads r to its end with reads of at most k octets.
func readChunks(r io.Reader, k int) ([]byte, error) {
	var out []byte
	p := make([]byte, k)
	for {
		n, err := r.Read(p)
		out = append(out, p[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// crlfReader gives the same octets whatever its buffer size, the caller's
// read size and the way the file hands out its content, including an LF
// that must become CRLF when the caller's room ends between the two.
func TestCRLFReaderChunking(t *testing.T) {
	inputs := []string{
		"",
		"\n",
		"\n\n\n",
		"a\nb\n",
		"A: b\n\nline1\nline2\r\n\n",
		"\r",
		"\r\n",
		"x\ry\r\n\r",
		"\r\r\n\n\r\n\n",
		"no line end at all",
		strings.Repeat("sixty-four octets of text in a line that ends with an LF....\n", 70),
	}
	sources := map[string]func(string) io.Reader{
		"whole":   func(s string) io.Reader { return strings.NewReader(s) },
		"onebyte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"dataerr": func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) },
	}
	for _, in := range inputs {
		want := crlfByByte(in)
		for name, src := range sources {
			for _, bufSize := range []int64{0, 1, 2, 3, 5, 64, int64(len(in)), 1 << 20} {
				for _, k := range []int{1, 2, 3, 7, 4096, 64 << 10} {
					got, err := readChunks(newCRLFReader(src(in), bufSize), k)
					if err != nil || string(got) != want {
						t.Fatalf("%s, buffer %d, reads of %d, %.20q: got %.40q (%v), want %.40q",
							name, bufSize, k, in, got, err, want)
					}
				}
			}
		}
	}
}

// A read error of the file comes back after the octets read before it.
func TestCRLFReaderError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := newCRLFReader(io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom)), 2)
	got, err := readChunks(r, 64)
	if !errors.Is(err, boom) || string(got) != "a\r\nb" {
		t.Fatalf("got %q, %v", got, err)
	}
	if n, err := r.Read(make([]byte, 8)); n != 0 || !errors.Is(err, boom) {
		t.Fatalf("after the error: %d, %v", n, err)
	}
}

// A small message is read from its file in one read, even by small reads
// of the caller: Open sizes the buffer to the file, and its size limit
// stops the reading before another.
func TestOpenReadsSmallFileOnce(t *testing.T) {
	s, _ := testStore(t, Options{})
	body := strings.Repeat("a line of a small message\n", 150)
	mustDeliver(t, s, body, "alice@example.org")
	f := mustOpen(t, mustAccount(t, s, "alice@example.org"), "INBOX", true)
	ms := mustMessages(t, f)
	rc, size, err := f.Open(ms[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	mr := rc.(*messageReader)
	cr := &mr.cr
	counted := &countReads{r: cr.r}
	cr.r = counted
	var out bytes.Buffer
	if _, err := io.Copy(&out, rc); err != nil {
		t.Fatal(err)
	}
	if out.String() != crlfByByte(body) || int64(out.Len()) != size {
		t.Fatalf("got %d octets, size %d", out.Len(), size)
	}
	if counted.n != 1 {
		t.Fatalf("%d reads of the file, want 1", counted.n)
	}
}

type countReads struct {
	r io.Reader
	n int
}

func (c *countReads) Read(p []byte) (int, error) {
	c.n++
	return c.r.Read(p)
}
