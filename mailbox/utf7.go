package mailbox

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// RFC 3501 §5.1.3 (kept by RFC 9051 for IMAP4rev1 clients and by Dovecot and
// Courier for Maildir++ folder directories): modified UTF-7. Printable
// US-ASCII other than "&" stands for itself, "&" is written "&-", and every
// other run of characters is "&" + modified BASE64 of its UTF-16BE + "-",
// where the BASE64 alphabet uses "," instead of "/" and has no padding.
var mutf7Base64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding).Strict()

var errBadUTF7 = errors.New("mailbox: bad modified UTF-7")

// encodeMUTF7 encodes valid UTF-8 s as modified UTF-7.
func encodeMUTF7(s string) string {
	var b strings.Builder
	var run []uint16
	flush := func() {
		if len(run) == 0 {
			return
		}
		buf := make([]byte, 0, 2*len(run))
		for _, u := range run {
			buf = append(buf, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(mutf7Base64.EncodeToString(buf))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				b.WriteString("&-")
			} else {
				b.WriteRune(r)
			}
			continue
		}
		run = utf16.AppendRune(run, r)
	}
	flush()
	return b.String()
}

// decodeMUTF7 decodes modified UTF-7 strictly: only the canonical encoding
// of a string is accepted (RFC 3501 §5.1.3 forbids encoding printable
// ASCII in BASE64 and adjacent shifted runs), so that every folder has
// exactly one directory name.
func decodeMUTF7(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errBadUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", errBadUTF7
		}
		enc := s[i+1 : i+1+end]
		i += end + 2
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := mutf7Base64.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", errBadUTF7
		}
		units := make([]uint16, len(raw)/2)
		for j := range units {
			units[j] = uint16(raw[2*j])<<8 | uint16(raw[2*j+1])
		}
		for j := 0; j < len(units); j++ {
			u := units[j]
			var r rune
			switch {
			case utf16.IsSurrogate(rune(u)):
				if u >= 0xdc00 || j+1 >= len(units) {
					return "", errBadUTF7
				}
				r = utf16.DecodeRune(rune(u), rune(units[j+1]))
				if r == utf8.RuneError {
					return "", errBadUTF7
				}
				j++
			default:
				r = rune(u)
			}
			if r >= 0x20 && r <= 0x7e {
				return "", errBadUTF7 // printable ASCII must not be shifted
			}
			b.WriteRune(r)
		}
	}
	out := b.String()
	// Canonical form only: "&AOk-&AOk-" decodes but is written "&AOkA6Q-".
	if encodeMUTF7(out) != s {
		return "", errBadUTF7
	}
	return out, nil
}
