package imapd

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// The charsets SEARCH decodes besides UTF-8: the single-byte ones most
// mail in Western languages uses. go-message's full charset package needs
// golang.org/x/text, which this module does not carry; text in other
// charsets is searched as it is (ASCII still matches).

// cp1252High maps 0x80-0x9F in Windows-1252; other bytes are Latin-1.
var cp1252High = [32]rune{
	'€', 0xFFFD, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0xFFFD, 'Ž', 0xFFFD,
	0xFFFD, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0xFFFD, 'ž', 'Ÿ',
}

// latin9 lists where ISO-8859-15 differs from Latin-1.
var latin9 = map[byte]rune{
	0xA4: '€', 0xA6: 'Š', 0xA8: 'š', 0xB4: 'Ž', 0xB8: 'ž', 0xBC: 'Œ', 0xBD: 'œ', 0xBE: 'Ÿ',
}

// charsetReader converts r from charset to UTF-8; an unknown charset is
// an error. Its signature is mime.WordDecoder's CharsetReader.
func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	var table func(b byte) rune
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return r, nil
	case "iso-8859-1", "iso8859-1", "latin1", "l1", "iso_8859-1":
		table = func(b byte) rune { return rune(b) }
	case "windows-1252", "cp1252", "x-cp1252":
		table = func(b byte) rune {
			if b >= 0x80 && b < 0xA0 {
				return cp1252High[b-0x80]
			}
			return rune(b)
		}
	case "iso-8859-15", "iso8859-15", "latin9", "latin-9":
		table = func(b byte) rune {
			if r, ok := latin9[b]; ok {
				return r
			}
			return rune(b)
		}
	default:
		return nil, fmt.Errorf("imapd: charset %q not supported", charset)
	}
	return &byteCharsetReader{r: r, table: table}, nil
}

// byteCharsetReader decodes a single-byte charset.
type byteCharsetReader struct {
	r     io.Reader
	table func(byte) rune
	in    [1024]byte
	buf   []byte // decoded text; out is what is left of it to read
	out   []byte
}

func (c *byteCharsetReader) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		n, err := c.r.Read(c.in[:])
		buf := c.buf[:0]
		for _, b := range c.in[:n] {
			if b < utf8.RuneSelf {
				buf = append(buf, b)
			} else {
				buf = utf8.AppendRune(buf, c.table(b))
			}
		}
		c.buf, c.out = buf, buf
		if n == 0 && err != nil {
			return 0, err
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}
