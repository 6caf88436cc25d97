package imapd

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// FuzzLayout: any content has a layout whose ranges nest inside the
// message, and every section resolves to a range inside it.
func FuzzLayout(f *testing.F) {
	f.Add([]byte(mpMessage))
	f.Add([]byte(searchCorpus[2]))
	f.Add([]byte("Subject: x\r\n\r\nbody"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n--a\r\n\r\n--a--"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nx"))
	f.Add([]byte("Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in\r\n\r\nhi\r\n--d--\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		root, err := parseLayout(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		size := int64(len(msg))
		var check func(e *entity, lo, hi int64, depth int)
		check = func(e *entity, lo, hi int64, depth int) {
			if depth > maxMIMEDepth+2 {
				t.Fatalf("depth %d", depth)
			}
			if !(lo <= e.HeaderStart && e.HeaderStart <= e.BodyStart && e.BodyStart <= e.End && e.End <= hi) {
				t.Fatalf("entity %d/%d/%d outside [%d,%d]", e.HeaderStart, e.BodyStart, e.End, lo, hi)
			}
			if nl := int64(bytes.Count(msg[e.BodyStart:e.End], []byte("\n"))); e.BodyLines != nl {
				t.Fatalf("body lines %d, want %d", e.BodyLines, nl)
			}
			prev := e.BodyStart
			for _, p := range e.Parts {
				if p.HeaderStart < prev {
					t.Fatalf("parts out of order")
				}
				prev = p.End
				check(p, e.BodyStart, e.End, depth+1)
			}
			if e.Message != nil {
				if e.Message.HeaderStart != e.BodyStart {
					t.Fatalf("message/rfc822 content does not start at the body")
				}
				check(e.Message, e.BodyStart, e.End, depth+1)
			}
		}
		check(root, 0, size, 0)
		if root.HeaderStart != 0 || root.End != size {
			t.Fatalf("root spans %d..%d of %d", root.HeaderStart, root.End, size)
		}
		head, err := parseHead(bytes.NewReader(msg), size)
		if err != nil || head.BodyStart != root.BodyStart || head.Type != root.Type || head.Subtype != root.Subtype {
			t.Fatalf("parseHead disagrees: %+v vs %+v (%v)", head, root, err)
		}
		if bs := bodyStructure(root); bs == nil {
			t.Fatal("no body structure")
		}
		newMeta(root, size, true)
		for _, part := range [][]int{nil, {1}, {2}, {1, 1}, {1, 2}, {2, 1}, {1, 1, 1}, {3, 2, 1}} {
			for _, spec := range []imap.PartSpecifier{imap.PartSpecifierNone, imap.PartSpecifierHeader,
				imap.PartSpecifierText, imap.PartSpecifierMIME} {
				sp, ok := bodySpan(root, size, &imap.FetchItemBodySection{Part: part, Specifier: spec})
				if ok && !(0 <= sp.start && sp.start <= sp.end && sp.end <= size) {
					t.Fatalf("section %v %s: %v of %d", part, spec, sp, size)
				}
			}
			p := planBinary(root, size, part)
			if !p.none && !(0 <= p.body.start && p.body.start <= p.body.end && p.body.end <= size) {
				t.Fatalf("binary %v: %+v", part, p)
			}
		}
	})
}

// FuzzFilterHeader: HEADER.FIELDS and HEADER.FIELDS.NOT split the fields
// between them, losing and inventing nothing.
func FuzzFilterHeader(f *testing.F) {
	f.Add([]byte(mpHeader), "subject")
	f.Add([]byte("A: 1\r\n  folded\r\nB: 2\r\n\r\n"), "a")
	f.Add([]byte("no colon line\r\nX: y\r\n"), "X")
	f.Add([]byte("\r\n"), "")
	f.Fuzz(func(t *testing.T, raw []byte, name string) {
		names := strings.Fields(name)
		keep := filterHeader(raw, names, false)
		drop := filterHeader(raw, names, true)
		blank := bytes.HasSuffix(raw, []byte("\n\r\n")) || bytes.Equal(raw, []byte("\r\n")) ||
			bytes.HasSuffix(raw, []byte("\n\n")) || bytes.Equal(raw, []byte("\n"))
		want := len(raw)
		if blank {
			eol := 1
			if bytes.HasSuffix(raw, []byte("\r\n")) {
				eol = 2
			}
			want += 2*2 - eol // the blank line, as CRLF, on both sides
		}
		if len(keep)+len(drop) != want {
			t.Fatalf("kept %d + dropped %d octets of %d (blank %v)", len(keep), len(drop), len(raw), blank)
		}
		for _, fld := range splitHeader(bytes.TrimSuffix(keep, []byte("\r\n"))) {
			match := false
			for _, n := range names {
				match = match || strings.EqualFold(fld.name, n)
			}
			if !match {
				t.Fatalf("kept field %q not asked for", fld.name)
			}
		}
	})
}

// FuzzFoldMatcher: streaming case-insensitive search, fed in pieces,
// agrees with lowering the whole text at once.
func FuzzFoldMatcher(f *testing.F) {
	f.Add("Die Straße ist GRÜN", "straße ist grün", uint8(3))
	f.Add("abc", "", uint8(1))
	f.Add("\xe2\x82\xacuro", "€URO", uint8(1))
	f.Add("aaaaab", "aab", uint8(2))
	f.Fuzz(func(t *testing.T, text, needle string, step uint8) {
		n := int(step%16) + 1
		m := newFoldMatcher([]string{needle})
		for i := 0; i < len(text); i += n {
			m.Write([]byte(text[i:min(i+n, len(text))]))
		}
		m.endUnit()
		want := bytes.Contains(bytes.ToLower([]byte(text)), bytes.ToLower([]byte(needle)))
		if m.found[0] != want {
			t.Fatalf("found %v, want %v (text %q needle %q step %d)", m.found[0], want, text, needle, n)
		}
	})
}

// FuzzAddressList: any header value gives a list in which every entry is
// a mailbox (local part and domain both set, so never mistaken for a group
// marker) or a group marker, groups are closed and not nested, and no
// string holds a line end.
func FuzzAddressList(f *testing.F) {
	for _, s := range []string{
		`=?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <j@example.net>, "Bob, Jr." <bob@example.org>`,
		"undisclosed-recipients:;",
		`friends: a@b, "C D" <c@d>;, e@f (Old Style), <postmaster>, <@route:x@y>`,
		"J\xc3\xbcrgen <j\xc3\xbcrgen@example.net>",
		`"unterminated <a@b>`, "(nested (comment) x@y", "a@[1.2.3.4]", "<<>>@@::;;,,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		list := parseAddressList(value)
		if len(list) > maxAddresses+1 {
			t.Fatalf("%d addresses", len(list))
		}
		inGroup := false
		for _, a := range list {
			for _, s := range []string{a.Name, a.Mailbox, a.Host} {
				if strings.ContainsAny(s, "\r\n") {
					t.Fatalf("line end in %+v", a)
				}
			}
			switch {
			case a.Host != "" && a.Mailbox != "":
			case a.Host == "" && a.Mailbox != "" && a.Name == "":
				if inGroup {
					t.Fatalf("nested group in %q", value)
				}
				inGroup = true
			case a == imap.Address{}:
				if !inGroup {
					t.Fatalf("group end without a start in %q", value)
				}
				inGroup = false
			default:
				t.Fatalf("half an address %+v from %q", a, value)
			}
		}
		if inGroup {
			t.Fatalf("group left open in %q", value)
		}
	})
}

// FuzzWireStrings: whatever a message's header holds, the ENVELOPE and
// BODYSTRUCTURE written to a client without UTF8=ACCEPT carry no 8-bit
// octet, NUL, CR or LF in any string, and those written to a UTF8=ACCEPT
// client carry only valid UTF-8 (downgrade.go).
func FuzzWireStrings(f *testing.F) {
	f.Add([]byte(mpMessage))
	f.Add([]byte("From: J\xc3\xbcrgen <j\xc3\xbcrgen@example.net>\r\nSubject: 8bit \xff \x00\r\n\r\nx"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf; name=\"caf\xc3\xa9.pdf\"\r\n" +
		"Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf\r\n\r\nAAAA\r\n--b\r\n" +
		"Content-Type: message/rfc822\r\n\r\nFrom: \xc3\xbc@example.net\r\n\r\nhi\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		root, err := parseLayout(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		m := newMeta(root, int64(len(msg)), true)
		for _, utf8OK := range []bool{false, true} {
			check := func(s string) {
				if strings.ContainsAny(s, "\x00\r\n") {
					t.Fatalf("NUL or line end sent (utf8 %v): %q", utf8OK, s)
				}
				if !utf8OK && has8bit(s) || utf8OK && !utf8.ValidString(s) {
					t.Fatalf("8-bit string sent (utf8 %v): %q", utf8OK, s)
				}
			}
			walkEnvelope(wireEnvelope(m.envelope, utf8OK), check)
			walkStructure(wireStructure(m.structure, utf8OK), check)
		}
	})
}

func walkEnvelope(env *imap.Envelope, f func(string)) {
	if env == nil {
		return
	}
	f(env.Subject)
	f(env.MessageID)
	for _, id := range env.InReplyTo {
		f(id)
	}
	for _, l := range [][]imap.Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		for _, a := range l {
			f(a.Name)
			f(a.Mailbox)
			f(a.Host)
		}
	}
}

func walkStructure(bs imap.BodyStructure, f func(string)) {
	params := func(m map[string]string) {
		for k, v := range m {
			f(k)
			f(v)
		}
	}
	disp := func(d *imap.BodyStructureDisposition) {
		if d != nil {
			f(d.Value)
			params(d.Params)
		}
	}
	switch bs := bs.(type) {
	case *imap.BodyStructureSinglePart:
		for _, s := range []string{bs.Type, bs.Subtype, bs.ID, bs.Description, bs.Encoding} {
			f(s)
		}
		params(bs.Params)
		if m := bs.MessageRFC822; m != nil {
			walkEnvelope(m.Envelope, f)
			walkStructure(m.BodyStructure, f)
		}
		if x := bs.Extended; x != nil {
			disp(x.Disposition)
			for _, l := range x.Language {
				f(l)
			}
			f(x.Location)
		}
	case *imap.BodyStructureMultiPart:
		f(bs.Subtype)
		for _, c := range bs.Children {
			walkStructure(c, f)
		}
		if x := bs.Extended; x != nil {
			params(x.Params)
			disp(x.Disposition)
			for _, l := range x.Language {
				f(l)
			}
			f(x.Location)
		}
	}
}
