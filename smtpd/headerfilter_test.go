package smtpd

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func dropAll(t *testing.T, in string, names ...string) (string, []string) {
	t.Helper()
	d := newFieldDropper(strings.NewReader(in), dropNames(names...))
	out, err := io.ReadAll(iotest.OneByteReader(d))
	if err != nil {
		t.Fatal(err)
	}
	return string(out), d.dropped
}

func TestFieldDropper(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		dropped        []string
	}{
		{"fields and continuations",
			"Return-Path: <forged@evil.example>\r\nFrom: a@x\r\nBcc: hidden@x,\r\n\tother@x\r\nTo: b@x\r\n\r\nBcc: in the body stays\r\n",
			"From: a@x\r\nTo: b@x\r\n\r\nBcc: in the body stays\r\n", []string{"Return-Path", "Bcc"}},
		{"case and space before the colon",
			"bcc : x@y\r\nRETURN-PATH:<a@b>\r\nSubject: s\r\n\r\nbody",
			"Subject: s\r\n\r\nbody", []string{"bcc", "RETURN-PATH"}},
		{"nothing to drop", "Subject: s\r\n\r\nbody\r\n", "Subject: s\r\n\r\nbody\r\n", nil},
		{"no body", "Bcc: x@y\r\nSubject: s\r\n", "Subject: s\r\n", []string{"Bcc"}},
		{"bare LF lines", "Bcc: x@y\nSubject: s\n\nBcc: body\n", "Subject: s\n\nBcc: body\n", []string{"Bcc"}},
		{"a name that only starts the same", "Bcc-Like: kept\r\nX-Bcc: kept\r\n\r\n", "Bcc-Like: kept\r\nX-Bcc: kept\r\n\r\n", nil},
		{"a long line is one line", "Subject: " + strings.Repeat("a", 5000) + "\r\nBcc: x\r\n\r\n",
			"Subject: " + strings.Repeat("a", 5000) + "\r\n\r\n", []string{"Bcc"}},
		{"a long dropped field with a colon-looking rest", "Bcc: " + strings.Repeat("b", 5000) + "\r\nX: y\r\n\r\n", "X: y\r\n\r\n", []string{"Bcc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, dropped := dropAll(t, tc.in, "Bcc", "Return-Path")
			if got != tc.want {
				t.Errorf("got  %.200q\nwant %.200q", got, tc.want)
			}
			if strings.Join(dropped, ",") != strings.Join(tc.dropped, ",") {
				t.Errorf("dropped %q, want %q", dropped, tc.dropped)
			}
		})
	}
}

// With nothing to drop the dropper is the identity, whatever the input;
// with fields to drop, the output is the input less some whole lines of
// its header section, and names no dropped field at a line start there.
func FuzzFieldDropper(f *testing.F) {
	f.Add([]byte("Return-Path: <a@b>\r\nBcc: x\r\n y\r\nSubject: s\r\n\r\nBcc: b\r\n"))
	f.Add([]byte("Subject: s\n\nbody"))
	f.Add([]byte("\r\n\r\nBcc: x\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		same, err := io.ReadAll(newFieldDropper(bytes.NewReader(in), func(string) bool { return false }))
		if err != nil || !bytes.Equal(same, in) {
			t.Fatalf("identity changed %q to %q (%v)", in, same, err)
		}
		out, err := io.ReadAll(newFieldDropper(bytes.NewReader(in), dropNames("Bcc")))
		if err != nil || len(out) > len(in) {
			t.Fatalf("%q -> %q (%v)", in, out, err)
		}
		// The body (after the first blank line of the output) is the
		// input's tail unchanged.
		if i := bytes.Index(out, []byte("\n\r\n")); i >= 0 && !bytes.HasSuffix(in, out[i:]) {
			t.Fatalf("body changed: %q -> %q", in, out)
		}
	})
}
