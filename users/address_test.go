package users

import (
	"errors"
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	long64 := strings.Repeat("a", 64)
	longDomain := strings.Repeat("d", 63) + "." + strings.Repeat("e", 63) + "." + strings.Repeat("f", 63) + "." + strings.Repeat("g", 60) + ".org"
	tests := []struct {
		in, delim string
		want      string // "" means an error
		why       string // part of the error text
	}{
		{"alice@example.org", "+", "alice@example.org", ""},
		{"Alice@Example.ORG", "+", "alice@example.org", ""},
		{"first.last@example.org", "+", "first.last@example.org", ""},
		{"o'brien@example.org", "+", "o'brien@example.org", ""},
		{"a!#$%&'*-/=?^_`{|}~z@example.org", "+", "a!#$%&'*-/=?^_`{|}~z@example.org", ""},
		{"alice+tag@example.org", "", "alice+tag@example.org", ""},
		{"alice-tag@example.org", "+", "alice-tag@example.org", ""},
		{"x@localhost", "+", "x@localhost", ""},
		{"x@xn--bcher-kva.example", "+", "x@xn--bcher-kva.example", ""},
		{"x@1example.org", "+", "x@1example.org", ""},
		{long64 + "@example.org", "+", long64 + "@example.org", ""},

		{"", "+", "", "the address is empty"},
		{"alice", "+", "", "no @domain part"},
		{"@example.org", "+", "", "the part before @ is empty"},
		{"alice@", "+", "", "the domain is empty"},
		{"alice+tag@example.org", "+", "", `contains the subaddress delimiter "+"`},
		{"alice-tag@example.org", "-", "", `contains the subaddress delimiter "-"`},
		{".alice@example.org", "+", "", "starts or ends with a dot"},
		{"alice.@example.org", "+", "", "starts or ends with a dot"},
		{"al..ice@example.org", "+", "", "two dots in a row"},
		{"al ice@example.org", "+", "", `contains ' '`},
		{`"al ice"@example.org`, "+", "", `contains '"'`},
		{"al@ice@example.org", "+", "", `contains '@'`},
		{"alice\n@example.org", "+", "", `contains '\n'`},
		{"alicé@example.org", "+", "", "non-ASCII"},
		{long64 + "a@example.org", "+", "", "longer than 64"},
		{"alice@example..org", "+", "", "empty label"},
		{"alice@.example.org", "+", "", "empty label"},
		{"alice@example.org.", "+", "", "empty label"},
		{"alice@-example.org", "+", "", "hyphen"},
		{"alice@example-.org", "+", "", "hyphen"},
		{"alice@exa_mple.org", "+", "", `contains '_'`},
		{"alice@[192.0.2.1]", "+", "", `contains '['`},
		{"alice@192.0.2.1", "+", "", "all digits"},
		{"alice@" + strings.Repeat("a", 64) + ".org", "+", "", "label is longer than 63"},
		{"a@" + longDomain, "+", "", "longer than 254"},
		{"alice@bücher.example", "+", "", "only letters, digits"},
	}
	for _, tt := range tests {
		got, err := canonical(tt.in, tt.delim)
		if tt.want != "" {
			if err != nil || got != tt.want {
				t.Errorf("canonical(%q, %q) = %q, %v; want %q", tt.in, tt.delim, got, err, tt.want)
			}
			continue
		}
		if !errors.Is(err, ErrBadAddress) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("canonical(%q, %q) = %q, %v; want ErrBadAddress containing %q", tt.in, tt.delim, got, err, tt.why)
		}
	}
}

func TestBadAddressErrorText(t *testing.T) {
	_, err := canonical("al..ice@example.org", "+")
	want := `users: invalid address: "al..ice@example.org": the part before @ has two dots in a row`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestValidDomain(t *testing.T) {
	for d, want := range map[string]bool{
		"example.org": true, "EXAMPLE.org": true, "localhost": true, "a-b.c-d.e": true,
		"x1.2y": true, "1.2.3.4": false, "": false, "a..b": false, "a.b.": false,
		"-a.b": false, "a_b.c": false, strings.Repeat("a.", 125) + "bcd": true,
		strings.Repeat("a.", 126) + "bc": false,
	} {
		if got := ValidDomain(d); got != want {
			t.Errorf("ValidDomain(%q) = %v, want %v", d, got, want)
		}
	}
}

func TestValidDelimiter(t *testing.T) {
	for d, want := range map[string]bool{
		"+": true, "-": true, "=": true, "_": true, "~": true,
		"": false, ".": false, "a": false, "++": false, "@": false, " ": false,
	} {
		if got := ValidDelimiter(d); got != want {
			t.Errorf("ValidDelimiter(%q) = %v, want %v", d, got, want)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	ok := []string{"x", " spaces around ", strings.Repeat("p", 1024), "ünïcødé"}
	for _, p := range ok {
		if err := checkPassword(p); err != nil {
			t.Errorf("checkPassword(%.20q) = %v, want nil", p, err)
		}
	}
	bad := map[string]string{
		"":                        "users: unacceptable password: it is empty",
		strings.Repeat("p", 1025): "users: unacceptable password: it is longer than 1024 bytes",
		"a\nb":                    "users: unacceptable password: it contains a line break",
		"a\rb":                    "users: unacceptable password: it contains a line break",
		"a\x00b":                  "users: unacceptable password: it contains a NUL byte",
	}
	for p, want := range bad {
		err := checkPassword(p)
		if !errors.Is(err, ErrBadPassword) || err.Error() != want {
			t.Errorf("checkPassword(%.20q) = %v, want %s", p, err, want)
		}
	}
}

// FuzzParseAddress: canonical never panics, and what it accepts is lower
// case, within the limits, and a fixed point.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"alice@example.org", "A.B+c@Ex-ample.ORG", "x@localhost", "@", "a@b@c", "a..b@c", "\"q\"@x.org", "a@1.2.3.4", "ü@x.y"} {
		f.Add(s, "+")
	}
	f.Add("alice-tag@example.org", "-")
	f.Fuzz(func(t *testing.T, s, delim string) {
		c, err := canonical(s, delim)
		if err != nil {
			if !errors.Is(err, ErrBadAddress) {
				t.Fatalf("error %v does not wrap ErrBadAddress", err)
			}
			return
		}
		if c != strings.ToLower(c) || len(c) > maxAddressLen || strings.Count(c, "@") != 1 {
			t.Fatalf("canonical(%q) = %q: not lower case, too long or not one @", s, c)
		}
		if delim != "" && strings.Contains(s[:strings.LastIndexByte(s, '@')], delim) {
			t.Fatalf("canonical(%q, %q) = %q keeps the delimiter", s, delim, c)
		}
		again, err := canonical(c, "")
		if err != nil || again != c {
			t.Fatalf("canonical(%q) = %q, %v; want a fixed point", c, again, err)
		}
		if !ValidDomain(c[strings.IndexByte(c, '@')+1:]) {
			t.Fatalf("accepted %q with an invalid domain", c)
		}
	})
}
