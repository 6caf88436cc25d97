package smtpd

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestBareCRFixer(t *testing.T) {
	for in, want := range map[string]string{
		"a\r\nb\r\n":           "a\r\nb\r\n",
		"last\r.\r\n.\r\n":     "last\r\n.\r\n.\r\n",
		"x\ry":                 "x\r\ny",
		"x\r":                  "x\r\n",
		"\r\r\n":               "\r\n\r\n",
		"no line end":          "no line end",
		"lf only\nstays\n":     "lf only\nstays\n",
		"\r\r\r":               "\r\n\r\n\r\n",
		"a\r\n.\rMAIL FROM:<>": "a\r\n.\r\nMAIL FROM:<>",
	} {
		for _, one := range []bool{false, true} {
			var r io.Reader = newBareCRFixer(strings.NewReader(in))
			if one {
				r = newBareCRFixer(iotest.OneByteReader(strings.NewReader(in)))
			}
			got, err := io.ReadAll(r)
			if err != nil || string(got) != want {
				t.Errorf("%q (one octet at a time: %v): got %q (%v), want %q", in, one, got, err, want)
			}
		}
	}
}

// The output holds no bare CR, and is the input with LFs added after CRs.
func FuzzBareCRFixer(f *testing.F) {
	f.Add([]byte("last\r.\r\n.\r\n"))
	f.Add([]byte("\r\r\n\n\r"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := io.ReadAll(newBareCRFixer(iotest.HalfReader(bytes.NewReader(in))))
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range out {
			if b == '\r' && (i+1 == len(out) || out[i+1] != '\n') {
				t.Fatalf("bare CR at %d in %q", i, out)
			}
		}
		if !bytes.Equal(bytes.ReplaceAll(out, []byte("\r\n"), []byte("\r")), bytes.ReplaceAll(in, []byte("\r\n"), []byte("\r"))) {
			t.Fatalf("%q -> %q changed more than line ends", in, out)
		}
	})
}
