package smtpd

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseRecipient(t *testing.T) {
	for _, tc := range []struct {
		in       string
		smtputf8 bool
		want     string // canonical form, or "" when refused
		err      error
	}{
		{"alice@example.org", false, "alice@example.org", nil},
		{"Alice.Smith+tag@Example.ORG", false, "Alice.Smith+tag@example.org", nil},
		{"a#b$c&d'e*f=g?h^i_j`k{l|m}n~o/p-q@x.example", false, "a#b$c&d'e*f=g?h^i_j`k{l|m}n~o/p-q@x.example", nil},
		{"user@localhost", false, "user@localhost", nil},
		{"user@xn--bcher-kva.example", false, "user@xn--bcher-kva.example", nil},
		{"jürgen@bücher.example", true, "jürgen@bücher.example", nil},
		{"jürgen@example.org", false, "", errAddrNonASCII},
		{"user@bücher.example", false, "", errAddrNonASCII},

		{"a%b@example.org", false, "", errAddrRouting},
		{"b!a@example.org", false, "", errAddrRouting},
		{"a@b@example.org", false, "", errAddrRouting},
		{"a@[192.0.2.1]", false, "", errAddrLiteral},
		{"a@[IPv6:2001:db8::1]", false, "", errAddrLiteral},
		{"a b@example.org", false, "", errAddrQuoted},
		{`a"b@example.org`, false, "", errAddrQuoted},
		{`a\b@example.org`, false, "", errAddrQuoted},
		{"a(b)@example.org", false, "", errAddrQuoted},
		{"a,b@example.org", false, "", errAddrQuoted},

		{"", false, "", errAddrSyntax},
		{"alice", false, "", errAddrSyntax},
		{"@example.org", false, "", errAddrSyntax},
		{"alice@", false, "", errAddrSyntax},
		{".a@example.org", false, "", errAddrSyntax},
		{"a.@example.org", false, "", errAddrSyntax},
		{"a..b@example.org", false, "", errAddrSyntax},
		{"a@example..org", false, "", errAddrSyntax},
		{"a@.example.org", false, "", errAddrSyntax},
		{"a@example.org.", false, "", errAddrSyntax},
		{"a@-example.org", false, "", errAddrSyntax},
		{"a@example-.org", false, "", errAddrSyntax},
		{"a@exa mple.org", false, "", errAddrSyntax},
		{"a@exa%mple.org", false, "", errAddrSyntax},
		{"a\r\n@example.org", false, "", errAddrSyntax},
		{"a\x00@example.org", false, "", errAddrSyntax},
		{"a@example.org\x7f", false, "", errAddrSyntax},
		{"\xff@example.org", true, "", errAddrSyntax},
		{"a\u0085b@example.org", true, "", errAddrSyntax}, // C1 control

		{strings.Repeat("a", 64) + "@example.org", false, strings.Repeat("a", 64) + "@example.org", nil},
		{strings.Repeat("a", 65) + "@example.org", false, "", errAddrTooLong},
		{"a@" + strings.Repeat("b", 63) + ".org", false, "a@" + strings.Repeat("b", 63) + ".org", nil},
		{"a@" + strings.Repeat("b", 64) + ".org", false, "", errAddrSyntax},
		{"a@" + strings.Repeat("abcdefgh.", 28) + "org", false, "", errAddrTooLong}, // 257 octets: path over 256
	} {
		got, err := parseRecipient(tc.in, tc.smtputf8)
		if !errors.Is(err, tc.err) {
			t.Errorf("parseRecipient(%q, %v) error %v, want %v", tc.in, tc.smtputf8, err, tc.err)
			continue
		}
		if err == nil && got.String() != tc.want {
			t.Errorf("parseRecipient(%q) = %q, want %q", tc.in, got.String(), tc.want)
		}
	}
}

func TestParseSender(t *testing.T) {
	for _, tc := range []struct {
		in       string
		smtputf8 bool
		want     string
		err      error
	}{
		{"", false, "<>", nil},
		{"bounce+SRS=abc=def@remote.example", false, "<bounce+SRS=abc=def@remote.example>", nil},
		{strings.Repeat("v", 100) + "@lists.example", false, "<" + strings.Repeat("v", 100) + "@lists.example>", nil},
		{"a%b@relay.example", false, "<a%b@relay.example>", nil},
		{"user@[192.0.2.1]", false, "<user@[192.0.2.1]>", nil},
		{"john doe@remote.example", false, `<"john doe"@remote.example>`, nil},
		{`a"b\c@remote.example`, false, `<"a\"b\\c"@remote.example>`, nil},
		{"a@b@remote.example", false, `<"a@b"@remote.example>`, nil},
		{"ålice@rémote.example", true, "<ålice@rémote.example>", nil},
		{"ålice@remote.example", false, "", errSenderASCII},
		{"a\r\nb@remote.example", false, "", errSenderSyntax},
		{"a@remote.example\n", false, "", errSenderSyntax},
		{"a@remote.exa mple", false, "", errSenderSyntax},
		{"a@remote>example", false, "", errSenderSyntax},
		{"nodomain", false, "", errSenderSyntax},
		{"\xfe@remote.example", true, "", errSenderSyntax},
	} {
		got, err := parseSender(tc.in, tc.smtputf8)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("parseSender(%q, %v) = %q, %v; want %q, %v", tc.in, tc.smtputf8, got, err, tc.want, tc.err)
		}
	}
}

func FuzzParseRecipient(f *testing.F) {
	for _, s := range []string{
		"alice@example.org", "a%b@example.org", "a@[1.2.3.4]", "a b@example.org",
		"jürgen@bücher.example", "a..b@example.org", "a@b@c", "a@x-.org", "",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, smtputf8 bool) {
		r, err := parseRecipient(in, smtputf8)
		if err != nil {
			if r != (recipient{}) {
				t.Fatalf("refused %q but returned %q", in, r)
			}
			return
		}
		s := r.String()
		if !strings.EqualFold(s, in) || !strings.HasPrefix(in, r.Local+"@") {
			t.Fatalf("%q parsed as %q", in, s)
		}
		if strings.Count(s, "@") != 1 || strings.ContainsAny(r.Local, "%!\"\\ ") ||
			strings.ContainsAny(r.Domain, "[]:%!") || hasControl(s) || !utf8.ValidString(s) {
			t.Fatalf("accepted a dangerous address %q", s)
		}
		if r.Local == "" || r.Domain == "" || len(r.Local) > maxLocalPart || len(s) > maxPath-2 {
			t.Fatalf("accepted %q out of bounds", s)
		}
		if !smtputf8 && !isASCII(s) {
			t.Fatalf("accepted non-ASCII %q without SMTPUTF8", s)
		}
		if r.Domain != strings.ToLower(r.Domain) {
			t.Fatalf("domain %q not lower case", r.Domain)
		}
		// Parsing is stable, and SMTPUTF8 only ever allows more.
		if again, err := parseRecipient(s, smtputf8); err != nil || again != r {
			t.Fatalf("reparse of %q: %q, %v", s, again, err)
		}
		if _, err := parseRecipient(in, true); err != nil {
			t.Fatalf("%q accepted without SMTPUTF8 but refused with it: %v", in, err)
		}
	})
}

func FuzzParseSender(f *testing.F) {
	for _, s := range []string{
		"", "a@b.example", "john doe@x.example", `a"b\c@x`, "a@b@c", "ålice@x", "a@[1.2.3.4]", "x",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, smtputf8 bool) {
		rp, err := parseSender(in, smtputf8)
		if err != nil {
			return
		}
		if hasControl(rp) || !utf8.ValidString(rp) {
			t.Fatalf("Return-Path %q for %q", rp, in)
		}
		if in == "" {
			if rp != "<>" {
				t.Fatalf("null path gave %q", rp)
			}
			return
		}
		if !strings.HasPrefix(rp, "<") || !strings.HasSuffix(rp, ">") {
			t.Fatalf("Return-Path %q not bracketed", rp)
		}
		// The quoted form must unquote back to the address.
		at := strings.LastIndexByte(in, '@')
		local, domain := in[:at], in[at+1:]
		inner := rp[1 : len(rp)-1]
		if !strings.HasSuffix(inner, "@"+domain) {
			t.Fatalf("Return-Path %q lost domain %q", rp, domain)
		}
		q := strings.TrimSuffix(inner, "@"+domain)
		if checkLocalPart(local) == nil {
			if q != local {
				t.Fatalf("dot-string %q rewritten as %q", local, q)
			}
			return
		}
		if got, ok := unquote(q); !ok || got != local {
			t.Fatalf("local part %q quoted as %q, unquotes to %q", local, q, got)
		}
	})
}

// unquote reads an RFC 5321 §4.1.2 Quoted-string.
func unquote(q string) (string, bool) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(q)-1; i++ {
		c := q[i]
		switch c {
		case '\\':
			i++
			if i == len(q)-1 {
				return "", false
			}
			c = q[i]
		case '"':
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}
