package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMessageSizesAndSearchWords(t *testing.T) {
	g := newGenerator("a@example.net", "b@bench.test")
	for _, size := range []int{minMessageSize, 600, 1000, 4096, 65536, 1 << 20} {
		for seq := 0; seq < 120; seq++ {
			m := g.message(nil, seq, size)
			if len(m) != size {
				t.Fatalf("seq %d size %d: got %d octets", seq, size, len(m))
			}
			s := string(m)
			if strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\r") {
				t.Fatalf("seq %d: bare CR or LF", seq)
			}
			for _, line := range strings.Split(s, "\r\n") {
				if len(line) > 998 { // RFC 5322 §2.1.1
					t.Fatalf("seq %d: line of %d octets", seq, len(line))
				}
			}
			hdr, body, ok := strings.Cut(s, "\r\n\r\n")
			if !ok {
				t.Fatalf("seq %d: no blank line", seq)
			}
			if got := strings.Contains(hdr, searchHeaderWord); got != headerHitAt(seq) {
				t.Fatalf("seq %d: header word present %v", seq, got)
			}
			if got := strings.Contains(body, searchBodyWord); got != bodyHitAt(seq) {
				t.Fatalf("seq %d: body word present %v", seq, got)
			}
			if strings.Contains(body, searchHeaderWord) || strings.Contains(hdr, searchBodyWord) {
				t.Fatalf("seq %d: search word in the wrong part", seq)
			}
			if headerSeq(m) != seq {
				t.Fatalf("seq %d: headerSeq %d", seq, headerSeq(m))
			}
		}
	}
	// Same seq, same body, whatever the run.
	h := newGenerator("a@example.net", "b@bench.test")
	if g.run == h.run {
		t.Fatal("two runs with one id")
	}
	a, b := g.message(nil, 7, 4096), h.message(nil, 7, 4096)
	_, ba, _ := strings.Cut(string(a), "\r\n\r\n")
	_, bb, _ := strings.Cut(string(b), "\r\n\r\n")
	if ba != bb {
		t.Fatal("bodies differ between runs")
	}
	if got := countSeqs(1000, func(i int) bool { return !seenAt(i) }); got != 100 {
		t.Fatalf("unseen in 1000: %d", got)
	}
}

func TestReadMultiline(t *testing.T) {
	cases := []struct {
		in   string
		want int64
	}{
		{".\r\n", 0},
		{"a\r\n.\r\n", 3},
		{"..x\r\n.\r\n", 4},          // ".x\r\n" after un-stuffing (RFC 1939 §3)
		{"a\r\n..\r\nb\r\n.\r\n", 9}, // "a\r\n.\r\nb\r\n"
		{strings.Repeat("y", 10000) + "\r\n.\r\n", 10002},
	}
	for _, c := range cases {
		r := bufio.NewReaderSize(strings.NewReader(c.in+"+OK next"), 16)
		got, err := readMultiline(r)
		if err != nil || got != c.want {
			t.Errorf("%q: %d, %v; want %d", c.in, got, err, c.want)
		}
		rest, _ := r.ReadString('\n')
		if rest != "+OK next" {
			t.Errorf("%q: read past the terminator, left %q", c.in, rest)
		}
	}
	if _, err := readMultiline(bufio.NewReader(strings.NewReader("a\r\nno end"))); err == nil {
		t.Error("a response cut short gave no error")
	}
}

func TestProcTree(t *testing.T) {
	if pp, ok := parentPID([]byte("42 (a) b) (c) S 7 42 42 0")); !ok || pp != 7 {
		t.Fatalf("parentPID: %d %v", pp, ok)
	}
	if _, ok := parentPID([]byte("garbage")); ok {
		t.Fatal("parentPID of garbage")
	}
	// A fake /proc: 1 -> 10 -> 11, 1 -> 12, and 20 unrelated.
	dir := t.TempDir()
	procs := map[int]int{1: 0, 10: 1, 11: 10, 12: 1, 20: 0}
	for pid, ppid := range procs {
		d := filepath.Join(dir, strconv.Itoa(pid))
		os.Mkdir(d, 0o755)
		os.WriteFile(filepath.Join(d, "stat"), []byte(strconv.Itoa(pid)+" (x y) S "+strconv.Itoa(ppid)+" 0 0"), 0o644)
		if pid == 11 {
			os.WriteFile(filepath.Join(d, "status"), []byte("Name:\tx\nVmRSS:\t  300 kB\n"), 0o644)
		} else {
			os.WriteFile(filepath.Join(d, "smaps_rollup"), []byte("00400000-ff [rollup]\nRss:     "+strconv.Itoa(pid*10)+" kB\nPss:     "+strconv.Itoa(pid)+" kB\n"), 0o644)
		}
	}
	s, err := treeMem(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s.procs != 4 || s.rssKiB != 10+100+300+120 || s.pssKiB != 1+10+300+12 {
		t.Fatalf("treeMem = %+v", s)
	}
	if _, err := treeMem(dir, 99); err == nil {
		t.Fatal("treeMem of a missing pid")
	}
	// And the real /proc: this process has memory.
	me, err := treeMem("/proc", os.Getpid())
	if err != nil || me.rssKiB <= 0 || me.procs < 1 {
		t.Fatalf("treeMem(self) = %+v, %v", me, err)
	}
}

func TestStats(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	if m := medianDur(ds); m != 3 {
		t.Fatalf("median %v", m)
	}
	if m := medianDur([]time.Duration{4, 1, 2, 3}); m != 2 { // (2+3)/2 in integer nanoseconds
		t.Fatalf("even median %v", m)
	}
	sorted := make([]time.Duration, 100)
	for i := range sorted {
		sorted[i] = time.Duration(i + 1)
	}
	if p := percentile(sorted, 50); p != 50 {
		t.Fatalf("p50 %v", p)
	}
	if p := percentile(sorted, 99); p != 99 {
		t.Fatalf("p99 %v", p)
	}
	if p := percentile(sorted, 100); p != 100 {
		t.Fatalf("p100 %v", p)
	}
	if p := percentile(nil, 50); p != 0 {
		t.Fatalf("p50 of nothing %v", p)
	}
}

func TestTable(t *testing.T) {
	in := `# header line
disk 1 disk_w8_msgs_per_s 4000.000 msg/s
disk 2 disk_w8_msgs_per_s 6000.000 msg/s
mailsuite 1 smtpn_msgs_per_s 1000.000 msg/s
postfix 1 smtpn_msgs_per_s 500.000 msg/s
mailsuite 2 smtpn_msgs_per_s 3000.000 msg/s
postfix 2 smtpn_msgs_per_s 700.000 msg/s
mailsuite 1 smtpn_missing 0 msgs
mailsuite 1 select_ms 20.000 ms
dovecot 1 select_ms 40.000 ms
mailsuite 1 smtpn-empty_msgs_per_s 1000.000 msg/s
mailsuite 1 smtpn-full_msgs_per_s 950.000 msg/s
`
	res, err := readResults(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeTable(res, &out)
	got := out.String()
	for _, want := range []string{
		"Medians over 2 round(s)",
		"| smtpn_msgs_per_s | msg/s | higher | 2000 | postfix | 600.0 | 3.33 |",
		"| select_ms | ms | lower | 20.00 | dovecot | 40.00 | 0.50 |",
		"| disk_w8_msgs_per_s | msg/s | higher | - | disk | 5000 | - |",
		"ceiling with 8 writers (5000 msg/s)",
		"| mailsuite | smtpn_msgs_per_s | 2000 | 0.40 |",
		"| mailsuite | smtpn_msgs_per_s | 1000 | 950.0 | 0.95 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "smtpn_missing") {
		t.Error("a count made it into the table")
	}
	if _, err := readResults(strings.NewReader("mailsuite 1 x notanumber ms\n")); err == nil {
		t.Error("a bad value was accepted")
	}
	if _, err := readResults(strings.NewReader("too few fields\n")); err == nil {
		t.Error("a short line was accepted")
	}

	// The table mode end to end, from a file.
	path := filepath.Join(t.TempDir(), "results.txt")
	os.WriteFile(path, []byte(in), 0o644)
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"table", path}, &stdout, &stderr); code != 0 || stdout.String() != got {
		t.Fatalf("table mode: exit %d, stderr %q", code, stderr.String())
	}
	if code := run(t.Context(), []string{"table"}, &stdout, &stderr); code != 2 {
		t.Fatalf("table without a file: exit %d", code)
	}
}

// pjwHash is Dovecot's maildir_filename_base_hash (PJW over the name up
// to ":"), which it uses to look up every file of a folder.
func pjwHash(s string) uint32 {
	var h uint32
	for i := 0; i < len(s) && s[i] != ':'; i++ {
		h = h<<4 + uint32(s[i])
		if g := h & 0xf0000000; g != 0 {
			h ^= g >> 24
			h ^= g
		}
	}
	return h
}

// Fill files must not collide in Dovecot's name hash, or Dovecot is
// measured on a pathology of ours: 50,000 names give (almost) 50,000
// distinct hashes, whatever the pid and run. The model is checked on names
// of an earlier scheme that did collide on this machine (one hash shared
// by 11,451 files, and LMTP delivery into that folder took seconds).
func TestFillNamesHashApart(t *testing.T) {
	const n = 50000
	for _, pid := range []int{1, 4242, 27582, 99999, 4194303} {
		g := newGenerator("a@example.net", "b@bench.test")
		seen := make(map[uint32]bool, n)
		names := make(map[string]bool, n)
		for seq := 0; seq < n; seq++ {
			name := fillName(g.run, 1796324565, n, seq, pid, 4028, 4096)
			names[name] = true
			seen[pjwHash(name)] = true
		}
		if len(names) != n {
			t.Fatalf("pid %d: %d distinct names of %d", pid, len(names), n)
		}
		if len(seen) < n*99/100 {
			t.Fatalf("pid %d run %s: %d distinct Dovecot hashes of %d names", pid, g.run, len(seen), n)
		}
	}
	old := make(map[uint32]int, n)
	worst := 0
	g := newGenerator("mailbench@example.net", "benchidle@bench.test")
	for seq := 0; seq < n; seq++ {
		lf := 4096 - bytes.Count(g.message(nil, seq, 4096), []byte("\n"))
		h := pjwHash(fmt.Sprintf("1796324565.M%dP27582Q%d.mailbenchb9d78df5,S=%d,W=4096:2,S", seq, seq, lf))
		old[h]++
		worst = max(worst, old[h])
	}
	if worst != 11451 {
		t.Fatalf("the hash model is off: the old names' worst hash is shared by %d, not 11451", worst)
	}
}
