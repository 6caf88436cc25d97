package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// The table mode: `mailbench table FILE` reads the results the
// side-by-side script collected, one "target round name value unit" line
// per figure, and prints Markdown tables of medians over the rounds with
// mailsuite/peer ratios. It loads nothing.

const ourTarget = "mailsuite"

// betterBy says which way a unit improves; units not listed (counts) are
// checks, not figures, and stay out of the table.
var betterBy = map[string]string{
	"msg/s": "higher", "MB/s": "higher", "cmd/s": "higher",
	"ms": "lower", "s": "lower", "KiB": "lower",
}

type resultKey struct{ target, name string }

type results struct {
	vals    map[resultKey][]float64
	units   map[string]string
	names   []string // first-appearance order
	targets []string
	rounds  map[string]bool
}

func readResults(r io.Reader) (*results, error) {
	res := &results{vals: map[resultKey][]float64{}, units: map[string]string{}, rounds: map[string]bool{}}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) != 5 {
			return nil, fmt.Errorf("line %d: want \"target round name value unit\", got %q", line, sc.Text())
		}
		v, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: value %q: %v", line, f[3], err)
		}
		k := resultKey{f[0], f[2]}
		if _, ok := res.units[k.name]; !ok {
			res.names = append(res.names, k.name)
			res.units[k.name] = f[4]
		}
		if !slices.Contains(res.targets, k.target) {
			res.targets = append(res.targets, k.target)
		}
		res.rounds[f[1]] = true
		res.vals[k] = append(res.vals[k], v)
	}
	return res, sc.Err()
}

func (res *results) median(target, name string) (float64, int, bool) {
	vs := slices.Clone(res.vals[resultKey{target, name}])
	if len(vs) == 0 {
		return 0, 0, false
	}
	slices.Sort(vs)
	m := len(vs) / 2
	if len(vs)%2 == 1 {
		return vs[m], len(vs), true
	}
	return (vs[m-1] + vs[m]) / 2, len(vs), true
}

func fmtVal(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	switch {
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

// writeTable prints the comparison and the derived tables.
func writeTable(res *results, w io.Writer) {
	fmt.Fprintf(w, "Medians over %d round(s); ratio = mailsuite / peer; \"better\" says which way the figure improves.\n\n", len(res.rounds))
	fmt.Fprintln(w, "| figure | unit | better | mailsuite | peer | peer's | mailsuite/peer |")
	fmt.Fprintln(w, "| --- | --- | --- | ---: | --- | ---: | ---: |")
	for _, name := range res.names {
		unit := res.units[name]
		better, ok := betterBy[unit]
		if !ok {
			continue
		}
		ours, _, haveOurs := res.median(ourTarget, name)
		oursS := "-"
		if haveOurs {
			oursS = fmtVal(ours)
		}
		peers := 0
		for _, t := range res.targets {
			if t == ourTarget {
				continue
			}
			theirs, _, ok := res.median(t, name)
			if !ok {
				continue
			}
			peers++
			ratio := "-"
			if haveOurs && theirs != 0 {
				ratio = strconv.FormatFloat(ours/theirs, 'f', 2, 64)
			}
			if !haveOurs {
				oursS = "-"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", name, unit, better, oursS, t, fmtVal(theirs), ratio)
		}
		if peers == 0 && haveOurs {
			fmt.Fprintf(w, "| %s | %s | %s | %s | - | - | - |\n", name, unit, better, oursS)
		}
	}
	writeDiskFractions(res, w)
	writeGrowth(res, w)
}

// writeDiskFractions sets each SMTP delivery rate beside the disk's own
// ceiling for the Maildir pattern with 8 writers (the yardstick).
func writeDiskFractions(res *results, w io.Writer) {
	var ceil float64
	found := false
	for _, t := range res.targets {
		if v, _, ok := res.median(t, "disk_w8_msgs_per_s"); ok {
			ceil, found = v, true
		}
	}
	if !found || ceil == 0 {
		return
	}
	fmt.Fprintf(w, "\nSMTP delivery as a fraction of the disk's Maildir ceiling with 8 writers (%s msg/s):\n\n", fmtVal(ceil))
	fmt.Fprintln(w, "| target | figure | msg/s | fraction |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: |")
	for _, name := range res.names {
		if !strings.HasPrefix(name, "smtp") || res.units[name] != "msg/s" {
			continue
		}
		for _, t := range res.targets {
			if v, _, ok := res.median(t, name); ok {
				fmt.Fprintf(w, "| %s | %s | %s | %.2f |\n", t, name, fmtVal(v), v/ceil)
			}
		}
	}
}

// writeGrowth compares figures tagged "full" with the same figures tagged
// "empty" (delivery into a full mailbox against an empty one).
func writeGrowth(res *results, w io.Writer) {
	header := false
	for _, name := range res.names {
		wl, metric, ok := strings.Cut(name, "-full_")
		if !ok || res.units[name] != "msg/s" {
			continue
		}
		emptyName := wl + "-empty_" + metric
		for _, t := range res.targets {
			full, _, ok1 := res.median(t, name)
			empty, _, ok2 := res.median(t, emptyName)
			if !ok1 || !ok2 || empty == 0 {
				continue
			}
			if !header {
				fmt.Fprintf(w, "\nDelivery into a full mailbox against an empty one:\n\n")
				fmt.Fprintln(w, "| target | figure | empty | full | full/empty |")
				fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: |")
				header = true
			}
			fmt.Fprintf(w, "| %s | %s_%s | %s | %s | %.2f |\n", t, wl, metric, fmtVal(empty), fmtVal(full), full/empty)
		}
	}
}

// runTableMode is `mailbench table FILE`.
func runTableMode(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: mailbench table RESULTS-FILE")
		return 2
	}
	f, err := os.Open(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "mailbench: %v\n", err)
		return 1
	}
	defer f.Close()
	res, err := readResults(f)
	if err != nil {
		fmt.Fprintf(stderr, "mailbench: %s: %v\n", args[0], err)
		return 1
	}
	writeTable(res, stdout)
	return 0
}
