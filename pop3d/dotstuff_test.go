package pop3d

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func stuff(t testing.TB, msg string, lines int64) string {
	t.Helper()
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	n, err := copyDotStuffed(w, bufio.NewReaderSize(strings.NewReader(msg), copyBufferSize), lines)
	if err != nil {
		t.Fatalf("copyDotStuffed: %v", err)
	}
	w.Flush()
	if lines < 0 && n != int64(len(msg)) {
		t.Fatalf("copied %d octets of %d", n, len(msg))
	}
	return out.String()
}

func TestCopyDotStuffed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		msg   string
		lines int64
		want  string
	}{
		{"empty", "", -1, ""},
		{"plain", "A: b\r\n\r\nbody\r\n", -1, "A: b\r\n\r\nbody\r\n"},
		{"dots", "A: b\r\n\r\n.\r\n..x\r\n.\r\nend. .\r\n", -1, "A: b\r\n\r\n..\r\n...x\r\n..\r\nend. .\r\n"},
		{"dot first octet", ".A: b\r\n", -1, "..A: b\r\n"},
		{"no final CRLF", "A: b\r\n\r\nlast", -1, "A: b\r\n\r\nlast\r\n"},
		{"final CR only", "A: b\r\n\r\nlast\r", -1, "A: b\r\n\r\nlast\r\n"},
		{"dot no final CRLF", "A: b\r\n\r\n.", -1, "A: b\r\n\r\n..\r\n"},
		{"top 0", "A: b\r\nC: d\r\n\r\n1\r\n2\r\n", 0, "A: b\r\nC: d\r\n\r\n"},
		{"top 1", "A: b\r\n\r\n1\r\n2\r\n", 1, "A: b\r\n\r\n1\r\n"},
		{"top dots", "A: b\r\n\r\n.1\r\n.2\r\n", 1, "A: b\r\n\r\n..1\r\n"},
		{"top more than there is", "A: b\r\n\r\n1\r\n2", 10, "A: b\r\n\r\n1\r\n2\r\n"},
		{"top no body", "A: b\r\nC: d\r\n", 0, "A: b\r\nC: d\r\n"},
		{"top header only no CRLF", "A: b", 0, "A: b\r\n"},
		{"top empty body line", "A: b\r\n\r\n\r\n\r\nx\r\n", 2, "A: b\r\n\r\n\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stuff(t, tt.msg, tt.lines); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// A line longer than the copy buffer, starting with a dot, with a dot
// exactly where the buffer splits it: only the line start is stuffed.
func TestCopyDotStuffedLongLines(t *testing.T) {
	t.Parallel()
	long := "." + strings.Repeat("x", copyBufferSize-1) + "." + strings.Repeat("y", 3*copyBufferSize)
	msg := "H: v\r\n\r\n" + long + "\r\n.z\r\n"
	want := "H: v\r\n\r\n." + long + "\r\n..z\r\n"
	if got := stuff(t, msg, -1); got != want {
		t.Errorf("long line mangled (len %d, want %d)", len(got), len(want))
	}
	if got := stuff(t, msg, 1); got != "H: v\r\n\r\n."+long+"\r\n" {
		t.Errorf("TOP 1 of long line wrong (len %d)", len(got))
	}
	// One octet at a time, to cross every boundary.
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	if _, err := copyDotStuffed(w, bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(msg)), copyBufferSize), -1); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if out.String() != want {
		t.Errorf("one-byte reader: output differs")
	}
}

func TestCopyDotStuffedReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("A: b\r\n\r\npart"), iotest.ErrReader(boom))
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	_, err := copyDotStuffed(w, bufio.NewReaderSize(r, copyBufferSize), -1)
	var se sourceError
	if !errors.As(err, &se) || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want sourceError wrapping %v", err, boom)
	}
	w.Flush()
	if strings.HasSuffix(out.String(), "\r\n") && strings.HasSuffix(out.String(), "part\r\n") {
		t.Errorf("a broken message was completed with CRLF: %q", out.String())
	}
}

// topReference is TOP done the simple way, in memory, for comparison.
func topReference(msg string, lines int64) string {
	var out strings.Builder
	rest := msg
	inHeader := true
	for rest != "" {
		i := strings.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line = rest[:i+1]
		}
		if !inHeader && lines >= 0 {
			if lines == 0 {
				break
			}
			lines--
		}
		if inHeader && (line == "\r\n" || line == "\n") {
			inHeader = false
		}
		out.WriteString(line)
		rest = rest[len(line):]
	}
	s := out.String()
	switch {
	case s == "" || strings.HasSuffix(s, "\n"):
	case strings.HasSuffix(s, "\r"):
		s += "\n"
	default:
		s += "\r\n"
	}
	return s
}

// unstuff undoes dot-stuffing as a client does and checks that no line of
// the output would end the response early.
func unstuff(t *testing.T, out string) string {
	t.Helper()
	var b strings.Builder
	for out != "" {
		i := strings.IndexByte(out, '\n')
		if i < 0 {
			t.Fatalf("output does not end with a line end: %q", out)
		}
		line := out[:i+1]
		out = out[i+1:]
		if line == ".\r\n" {
			t.Fatalf("terminator inside the message")
		}
		b.WriteString(strings.TrimPrefix(line, "."))
	}
	return b.String()
}

// FuzzCopyDotStuffed: for any message and line count, unstuffing the output
// gives exactly what the in-memory reference TOP/RETR gives, and the output
// never contains a premature terminator.
func FuzzCopyDotStuffed(f *testing.F) {
	f.Add("Subject: x\r\n\r\nbody\r\n.\r\n..\r\n", int64(-1))
	f.Add("A: b\r\n\r\n1\r\n2\r\n3", int64(2))
	f.Add(".\r\n", int64(0))
	f.Add("no header end\r\n.x", int64(5))
	f.Add("\n.\n\r\r\n", int64(1))
	f.Fuzz(func(t *testing.T, msg string, lines int64) {
		if lines < -1 {
			lines = -1
		}
		out := stuff(t, msg, lines)
		if got, want := unstuff(t, out), topReference(msg, lines); got != want {
			t.Fatalf("unstuffed %q, want %q", got, want)
		}
	})
}
