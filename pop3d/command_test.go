package pop3d

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line string
		want command
		err  error
	}{
		{"STAT", command{name: "STAT"}, nil},
		{"stat", command{name: "STAT"}, nil},
		{"LiSt 1", command{name: "LIST", args: []string{"1"}, rest: "1"}, nil},
		{"TOP 1 10", command{name: "TOP", args: []string{"1", "10"}, rest: "1 10"}, nil},
		{"TOP  1   10 ", command{name: "TOP", args: []string{"1", "10"}, rest: " 1   10 "}, nil},
		{"PASS my secret  pass", command{name: "PASS", args: []string{"my", "secret", "pass"}, rest: "my secret  pass"}, nil},
		{"PASS pässwörd", command{name: "PASS", args: []string{"pässwörd"}, rest: "pässwörd"}, nil},
		{"NOOP ", command{name: "NOOP", rest: ""}, nil},
		{"", command{}, errEmptyCommand},
		{"   ", command{}, errEmptyCommand},
		{" STAT", command{}, errBadKeyword},
		{"ST", command{}, errBadKeyword},
		{"STATS", command{}, errBadKeyword},
		{"ST1T", command{}, errBadKeyword},
		{"RÉTR 1", command{}, errBadKeyword},
		{"STAT\x00", command{}, errBadChars},
		{"PASS a\tb", command{}, errBadChars},
		{"LIST 1\r", command{}, errBadChars},
		{"NOOP\x7f", command{}, errBadChars},
	}
	for _, tt := range tests {
		got, err := parseCommand(tt.line)
		if !errors.Is(err, tt.err) {
			t.Errorf("parseCommand(%q) error %v, want %v", tt.line, err, tt.err)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseCommand(%q) = %#v, want %#v", tt.line, got, tt.want)
		}
	}
}

func TestParseNumber(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		bits int
		want uint64
		ok   bool
	}{
		{"1", 32, 1, true},
		{"0", 32, 0, true},
		{"007", 32, 7, true},
		{"4294967295", 32, 4294967295, true},
		{"4294967296", 32, 0, false},
		{"9223372036854775807", 63, 9223372036854775807, true},
		{"9223372036854775808", 63, 0, false},
		{"", 32, 0, false},
		{"-1", 32, 0, false},
		{"+1", 32, 0, false},
		{"1a", 32, 0, false},
		{"0x10", 32, 0, false},
		{"１", 32, 0, false}, // full-width digit
		{strings.Repeat("0", 21), 32, 0, false},
	}
	for _, tt := range tests {
		got, ok := parseNumber(tt.s, tt.bits)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseNumber(%q, %d) = %d, %v; want %d, %v", tt.s, tt.bits, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzParseCommand checks the parser's promises on any line: no panic; a
// keyword of 3 or 4 ASCII letters in upper case; arguments that are the
// non-empty space-separated fields of the rest; no control characters.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"STAT", "list 1", "TOP 1 10", "PASS a b  c", "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "", " ", "\x00", "RETR\t1", "USER ä@example.org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := parseCommand(line)
		if err != nil {
			return
		}
		if len(cmd.name) < 3 || len(cmd.name) > 4 {
			t.Fatalf("keyword %q", cmd.name)
		}
		for _, c := range []byte(cmd.name) {
			if c < 'A' || c > 'Z' {
				t.Fatalf("keyword %q not upper-case ASCII", cmd.name)
			}
		}
		if !strings.EqualFold(line[:len(cmd.name)], cmd.name) {
			t.Fatalf("keyword %q not from line %q", cmd.name, line)
		}
		for _, c := range []byte(line) {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("accepted control character in %q", line)
			}
		}
		if cmd.rest != "" && line != cmd.name+" "+cmd.rest && !strings.EqualFold(line, cmd.name+" "+cmd.rest) {
			t.Fatalf("rest %q does not rebuild %q", cmd.rest, line)
		}
		if got := strings.Fields(cmd.rest); !reflect.DeepEqual(got, cmd.args) && !(len(got) == 0 && len(cmd.args) == 0) {
			t.Fatalf("args %q, want %q", cmd.args, got)
		}
	})
}

func TestDecodePlain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in                string
		authz, authc, pwd string
		ok                bool
	}{
		{"\x00alice\x00pw", "", "alice", "pw", true},
		{"alice\x00alice\x00pw", "alice", "alice", "pw", true},
		{"\x00alice\x00p w\xc3\xa4", "", "alice", "p w\xc3\xa4", true},
		{"\x00\x00pw", "", "", "", false},
		{"\x00alice\x00", "", "alice", "", false},
		{"alice\x00pw", "", "", "", false},
		{"\x00alice\x00pw\x00x", "", "", "", false},
		{"", "", "", "", false},
	}
	for _, tt := range tests {
		z, c, p, err := decodePlain([]byte(tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("decodePlain(%q) error %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && (z != tt.authz || c != tt.authc || p != tt.pwd) {
			t.Errorf("decodePlain(%q) = %q %q %q", tt.in, z, c, p)
		}
	}
}

// FuzzDecodePlain: a decoded PLAIN message re-encodes to the input.
func FuzzDecodePlain(f *testing.F) {
	for _, s := range []string{"\x00alice\x00pw", "a\x00b\x00c", "", "\x00\x00", "x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		z, c, p, err := decodePlain(raw)
		if err != nil {
			return
		}
		if c == "" || p == "" {
			t.Fatalf("empty authcid or password accepted from %q", raw)
		}
		if got := z + "\x00" + c + "\x00" + p; got != string(raw) {
			t.Fatalf("round trip %q != %q", got, raw)
		}
	})
}
