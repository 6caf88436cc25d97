package smtpd

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// fieldDropper passes a message through and leaves out of its header
// section the fields drop names, each with its continuation lines; every
// other octet passes unchanged.
//
// Which fields: a Return-Path the client wrote (RFC 5321 §4.4: the final
// delivery adds it, and a message in transit should have none; a second
// one under ours would let the sender name a return path that filters and
// clients may read), and on submission Bcc (RFC 5322 §3.6.3: the blind
// recipients must not be shown to the others; Postfix's cleanup removes it
// too).
//
// The header section ends as readHeaderSection ends it: at the first whole
// empty line, a line of any length counted once.
type fieldDropper struct {
	br          *bufio.Reader
	drop        func(name string) bool
	inHeader    bool
	atLineStart bool
	dropping    bool   // the current field is left out, continuation lines too
	pending     []byte // what is left of the line being handed out
	err         error  // br's error, returned once pending is out
	dropped     []string
}

func newFieldDropper(r io.Reader, drop func(name string) bool) *fieldDropper {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 4096)
	}
	return &fieldDropper{br: br, drop: drop, inHeader: true, atLineStart: true}
}

func (d *fieldDropper) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if !d.inHeader {
			return d.br.Read(p)
		}
		line, err := d.br.ReadSlice('\n')
		if len(line) > 0 {
			if d.atLineStart {
				switch {
				case isBlankLine(line):
					d.inHeader, d.dropping = false, false
				case line[0] == ' ' || line[0] == '\t':
					// a continuation line: its field's fate
				default:
					name, _, ok := bytes.Cut(line, []byte(":"))
					d.dropping = ok && d.drop(string(bytes.TrimRight(name, " \t")))
					if d.dropping {
						d.dropped = append(d.dropped, string(bytes.TrimRight(name, " \t")))
					}
				}
			}
			if !d.dropping {
				d.pending = line // valid until the next read of br, after it is out
			}
		}
		d.atLineStart = err != bufio.ErrBufferFull
		if err != nil && err != bufio.ErrBufferFull {
			d.err = err
		}
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

// dropNames is a drop function for fieldDropper: the names given, any case.
func dropNames(names ...string) func(string) bool {
	return func(name string) bool {
		for _, n := range names {
			if strings.EqualFold(name, n) {
				return true
			}
		}
		return false
	}
}

// stripFields is fieldDropper over a header section held in memory.
func stripFields(raw []byte, drop func(string) bool) ([]byte, []string) {
	d := newFieldDropper(bytes.NewReader(raw), drop)
	out, _ := io.ReadAll(d) // a bytes.Reader fails with nothing but EOF
	return out, d.dropped
}
