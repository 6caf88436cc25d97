package smtpd

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

// FuzzReadHeaderSection checks that the header the sender policy sees is
// the header a receiver sees: the From fields read through the 4 KiB
// buffer of submission equal those go-message reads from the whole
// message at once, and the bytes kept are the message's own prefix.
func FuzzReadHeaderSection(f *testing.F) {
	f.Add([]byte("From: a@b\r\nSubject: x\r\n\r\nbody\r\n"))
	f.Add([]byte("X-Pad: " + strings.Repeat("a", 4088) + "\r\nFrom: c@d\r\n\r\nb\r\n"))
	f.Add([]byte("X-Pad: " + strings.Repeat("a", 4089) + "\r\nFrom: c@d\r\n\r\nb\r\n"))
	f.Add([]byte("Subject: x\n\nFrom: not@header\n"))
	f.Add([]byte("From: a@b\r\n continued\r\n\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		raw, h, err := readHeaderSection(bufio.NewReaderSize(bytes.NewReader(msg), 4096))
		if err != nil {
			return // refused: nothing is sent
		}
		if !bytes.HasPrefix(msg, raw) {
			t.Fatalf("kept bytes are not the message's prefix")
		}
		whole := msg
		if !bytes.Contains(whole, []byte("\n\r\n")) && !bytes.Contains(whole, []byte("\n\n")) {
			whole = append(bytes.Clone(whole), "\r\n\r\n"...)
		}
		rh, rerr := textproto.ReadHeader(bufio.NewReaderSize(bytes.NewReader(whole), len(whole)+16))
		if rerr != nil && len(raw) == len(msg) {
			return
		}
		if got, want := h.Values("From"), rh.Values("From"); !slices.Equal(got, want) {
			t.Fatalf("From fields checked %q, a receiver reads %q", got, want)
		}
	})
}
