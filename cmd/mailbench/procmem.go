package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// memSample is the memory of a process tree: a server and every process
// it started (Dovecot runs one process per IMAP session, mailsuite one
// process for all).
type memSample struct {
	pssKiB int64 // proportional set size: shared pages divided among sharers
	rssKiB int64 // resident set size, shared pages counted in every process
	procs  int
}

// treeMem sums Pss and Rss (from /proc/<pid>/smaps_rollup, or VmRSS from
// /proc/<pid>/status where that is missing) over pid and its descendants.
func treeMem(procDir string, pid int) (memSample, error) {
	pids, err := descendants(procDir, pid)
	if err != nil {
		return memSample{}, err
	}
	var s memSample
	for _, p := range pids {
		pss, rss, err := procMem(procDir, p)
		if err != nil {
			continue // the process ended between the listing and the read
		}
		s.pssKiB += pss
		s.rssKiB += rss
		s.procs++
	}
	if s.procs == 0 {
		return s, fmt.Errorf("pid %d: no readable process", pid)
	}
	return s, nil
}

// descendants returns pid and every process whose parent chain reaches it.
func descendants(procDir string, pid int) ([]int, error) {
	if _, err := os.Stat(filepath.Join(procDir, strconv.Itoa(pid))); err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(procDir, e.Name(), "stat"))
		if err != nil {
			continue
		}
		if pp, ok := parentPID(stat); ok {
			children[pp] = append(children[pp], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out, nil
}

// parentPID reads the ppid from /proc/<pid>/stat: "pid (comm) state ppid
// ...", where comm may hold spaces and parentheses (proc(5)).
func parentPID(stat []byte) (int, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

// procMem reads one process's Pss and Rss in KiB.
func procMem(procDir string, pid int) (pss, rss int64, err error) {
	dir := filepath.Join(procDir, strconv.Itoa(pid))
	if b, err := os.ReadFile(filepath.Join(dir, "smaps_rollup")); err == nil {
		pss, okP := kbField(b, "Pss:")
		rss, okR := kbField(b, "Rss:")
		if okP && okR {
			return pss, rss, nil
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return 0, 0, err
	}
	rss, ok := kbField(b, "VmRSS:")
	if !ok {
		return 0, 0, fmt.Errorf("pid %d: no VmRSS", pid)
	}
	return rss, rss, nil
}

// kbField finds a "Name:   123 kB" line and returns 123.
func kbField(b []byte, name string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		f := strings.Fields(line[len(name):])
		if len(f) == 0 {
			return 0, false
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		return v, err == nil
	}
	return 0, false
}
