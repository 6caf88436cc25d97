package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzLoad: any text gives a Config or an *Error, never a panic; a Config
// that Parse accepts passes the checks again and lists its listeners.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(minimalFile))
	f.Add(mustReadF(f, examplePath))
	f.Add([]byte("hostname = 1\n"))
	f.Add([]byte("[listen]\nimap = \"[::1]:143\"\nimaps = \"localhost:143\"\n"))
	f.Add([]byte("a.b.\"c d\" = 1\n[x.'y']\nz = \"\"\"\nq = 1\n\"\"\"\n"))
	f.Add([]byte("[timeouts]\nsmtp = 300\n"))
	f.Add([]byte("domains = [\"example.org\", 1]\nlisten = \"x\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "/fuzz/mailsuite.toml")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 {
				t.Fatalf("error %T %v is not a non-empty *Error", err, err)
			}
			_ = e.Error()
			return
		}
		ps := &problems{c: c}
		c.check(ps)
		if err := ps.err(); err != nil {
			t.Fatalf("Parse accepted a config that check refuses: %v", err)
		}
		for _, l := range c.Listeners() {
			if l.Address == "" || l.Security == "" {
				t.Fatalf("listener %+v", l)
			}
		}
		_ = c.LogValue().Resolve()
	})
}

func mustReadF(f *testing.F, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzTypeProblem: the reader of the decoder's type-mismatch text takes
// any text without a panic, and what it accepts has a key and a message.
func FuzzTypeProblem(f *testing.F) {
	f.Add(`toml: line 3 (last key "limits.max_recipients"): incompatible types: TOML value has type string; destination has type integer`)
	f.Add(`toml: (last key "domains"): incompatible types: TOML value has type int64; destination has type string`)
	f.Add(`toml: line 1 (last key "listen"): type mismatch for config.Listen: expected table but found string`)
	f.Add(`toml: line 1 (last key "a\"b"): x`)
	f.Add(`toml: line x (last key "a")`)
	f.Fuzz(func(t *testing.T, text string) {
		c := &Config{Path: "/fuzz.toml", lines: map[string]int{"listen": 4}}
		p, ok := typeProblem(c, text)
		if ok && (p.Key == "" || p.File != c.Path) {
			t.Fatalf("typeProblem(%q) = %+v", text, p)
		}
		_ = decodeProblem(c, errors.New(text)).String()
	})
}
