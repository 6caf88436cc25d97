package imapd

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
)

// foldMatcher looks for several strings at once in a stream of text,
// without regard to case (RFC 9051 §6.4.4: SEARCH string matching is
// case-insensitive substring matching). Text comes in units (one header
// field, one body part); a match never spans two units. Memory is bounded
// by the longest needle, whatever the length of the text.
type foldMatcher struct {
	needles [][]byte // lower case
	found   []bool
	left    int
	maxLen  int
	tail    []byte // the end of the lowered text of this unit so far
	pend    []byte // an incomplete UTF-8 sequence held for the next write
}

func newFoldMatcher(needles []string) *foldMatcher {
	m := &foldMatcher{found: make([]bool, len(needles))}
	for i, n := range needles {
		ln := bytes.ToLower([]byte(n))
		m.needles = append(m.needles, ln)
		if len(ln) == 0 {
			m.found[i] = true // the empty string is in every text
			continue
		}
		m.left++
		m.maxLen = max(m.maxLen, len(ln))
	}
	return m
}

func (m *foldMatcher) done() bool { return m.left == 0 }

// Write feeds text of the current unit.
func (m *foldMatcher) Write(p []byte) (int, error) {
	if m.done() {
		return len(p), nil
	}
	data := p
	if len(m.pend) > 0 {
		data = append(m.pend, p...)
		m.pend = nil
	}
	cut := completeRunes(data)
	if cut < len(data) {
		m.pend = append([]byte(nil), data[cut:]...)
	}
	m.feed(data[:cut])
	return len(p), nil
}

// endUnit ends the current unit.
func (m *foldMatcher) endUnit() {
	if len(m.pend) > 0 {
		m.feed(m.pend)
		m.pend = nil
	}
	m.tail = m.tail[:0]
}

func (m *foldMatcher) feed(b []byte) {
	if len(b) == 0 || m.done() {
		return
	}
	low := bytes.ToLower(b)
	window := append(m.tail, low...)
	for i, n := range m.needles {
		if !m.found[i] && bytes.Contains(window, n) {
			m.found[i] = true
			m.left--
		}
	}
	keep := min(len(window), m.maxLen-1)
	m.tail = append(m.tail[:0], window[len(window)-keep:]...)
}

// completeRunes gives the length of b without a trailing incomplete
// UTF-8 sequence (one that more bytes could still complete).
func completeRunes(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

// feedString feeds one whole unit.
func (m *foldMatcher) feedString(s string) {
	m.Write([]byte(s))
	m.endUnit()
}

// wordDecoder decodes RFC 2047 encoded words with the charsets we know.
var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// decodeHeaderValue gives a field value as a person reads it (RFC 2047).
func decodeHeaderValue(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// feedHeader feeds each field of h as one unit, "Name: value".
func (m *foldMatcher) feedHeader(h textproto.Header) {
	for f := h.Fields(); f.Next() && !m.done(); {
		m.feedString(f.Key() + ": " + decodeHeaderValue(f.Value()))
	}
}

// scanText searches a message's decoded text (RFC 9051 §6.4.4 BODY and
// TEXT): body needles in the bodies of text parts, text needles there and
// in every header (the message's, its parts' MIME headers, and those of
// attached messages). Transfer encodings and the charsets we know are
// undone first; parts that are not text are not searched.
func scanText(src *msgSource, root *entity, body, text *foldMatcher) error {
	if text != nil {
		text.feedHeader(root.Header)
	}
	var walk func(e *entity) error
	walk = func(e *entity) error {
		if body.done() && (text == nil || text.done()) {
			return nil
		}
		switch {
		case e.isMultipart():
			for _, p := range e.Parts {
				if text != nil {
					text.feedHeader(p.Header)
				}
				if err := walk(p); err != nil {
					return err
				}
			}
			return nil
		case e.isMessage() && e.Message != nil:
			if text != nil {
				text.feedHeader(e.Message.Header)
			}
			return walk(e.Message)
		case e.Type != "text":
			return nil
		}
		r, err := src.at(e.BodyStart, e.End-e.BodyStart)
		if err != nil {
			return err
		}
		dec, err := decodeCTE(e.Encoding, r)
		if err != nil {
			dec = r // unknown encoding: search it as it is
		}
		if cr, err := charsetReader(e.Params["charset"], dec); err == nil {
			dec = cr
		}
		var w io.Writer = body
		if text != nil {
			w = io.MultiWriter(body, text)
		}
		_, err = io.Copy(w, dec)
		body.endUnit()
		if text != nil {
			text.endUnit()
		}
		return err
	}
	return walk(root)
}
