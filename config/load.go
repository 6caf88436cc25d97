package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads the config file at path over the production defaults
// (Default): a key the file leaves out keeps its default.
//
// Decoding is strict: an unknown key (including a known key spelled in
// another case) is an error. Load reports, in one *Error, every problem it
// can find without writing anything: unknown keys, values of the wrong
// type or form, and everything Validate checks except data_dir on disk.
// A file that is not TOML at all yields its one syntax error. Relative
// paths in the file (data_dir, tls.cert_file, tls.key_file) are taken
// relative to the file's directory.
//
// After Load succeeds, call Validate before using the Config: it also
// checks that data_dir could be created and written (creating nothing).
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, &Error{Problems: []Problem{{File: abs, Msg: "cannot read the config file: " + errText(err)}}}
	}
	return Parse(data, abs)
}

// Parse is Load on the file's content; name is the file's path (for
// messages, and as the base of relative paths). Parse touches no file
// except to check that the TLS files are readable.
func Parse(data []byte, name string) (*Config, error) {
	// The decoder stops at the first value of the wrong type. To report
	// them all, each one's line is blanked and the file decoded again
	// (the line numbers stay); the checks then run on the rest, less
	// what they would say again about the keys already reported.
	var (
		c        *Config
		md       toml.MetaData
		typeErrs []Problem
		work     = data
	)
	for {
		c = Default()
		c.Path = name
		c.lines = keyLines(data)
		var err error
		md, err = toml.Decode(string(work), c)
		if err == nil {
			break
		}
		p := decodeProblem(c, err)
		var pe toml.ParseError
		if errors.As(err, &pe) && len(typeErrs) > 0 {
			// A value over several lines, of which only the first was
			// blanked: report what was found, not this.
			return nil, &Error{Problems: byLine(typeErrs)}
		}
		if errors.As(err, &pe) || p.Line == 0 || len(typeErrs) >= maxTypeProblems {
			return nil, &Error{Problems: byLine(append(typeErrs, p))}
		}
		if slices.ContainsFunc(typeErrs, func(q Problem) bool { return q.Line == p.Line }) {
			return nil, &Error{Problems: byLine(typeErrs)} // blanking did not help
		}
		typeErrs = append(typeErrs, p)
		work = blankLine(work, p.Line)
	}
	ps := &problems{c: c}
	unknownKeys(ps, md)
	c.fillZeroes()
	c.makePathsAbsolute()
	c.check(ps)
	if len(typeErrs) > 0 {
		reported := map[string]bool{}
		for _, p := range typeErrs {
			reported[p.Key] = true
		}
		rest := typeErrs
		for _, p := range ps.list {
			if !reported[p.Key] {
				rest = append(rest, p)
			}
		}
		ps.list = byLine(rest)
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// byLine sorts problems by line, those of the file as a whole last: the
// decoder meets tables in no fixed order.
func byLine(ps []Problem) []Problem {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		switch {
		case a.Line == b.Line:
			return 0
		case a.Line == 0:
			return 1
		case b.Line == 0:
			return -1
		}
		return a.Line - b.Line
	})
	return ps
}

// maxTypeProblems bounds the decoding passes of Parse.
const maxTypeProblems = 50

// blankLine empties line n (1-based) of data, keeping its line end.
func blankLine(data []byte, n int) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if n < 1 || n > len(lines) {
		return data
	}
	out := make([]byte, 0, len(data))
	for i, l := range lines {
		if i == n-1 {
			if bytes.HasSuffix(l, []byte("\n")) {
				out = append(out, '\n')
			}
			continue
		}
		out = append(out, l...)
	}
	return out
}

// unknownKeys reports every key in the file that the schema does not have,
// exactly as spelled (the decoder itself matches field names without
// regard to case). A table that is unknown is reported once, not once per
// key inside it.
func unknownKeys(ps *problems, md toml.MetaData) {
	var reported []string
	isReported := func(k string) bool {
		return slices.ContainsFunc(reported, func(r string) bool { return k == r || strings.HasPrefix(k, r+".") })
	}
	report := func(key toml.Key) {
		k := strings.Join(key, ".")
		if isReported(k) {
			return
		}
		reported = append(reported, k)
		ps.add(k, "unknown key"+knownKeysHint(key))
	}
	for _, key := range md.Keys() {
		if n := knownPrefix(key); n < len(key) {
			report(key[:n+1])
		}
	}
	for _, key := range md.Undecoded() {
		report(key)
	}
}

var configType = reflect.TypeFor[Config]()

// knownPrefix returns how many leading parts of key name schema fields.
func knownPrefix(key toml.Key) int {
	t := configType
	for i, part := range key {
		f, ok := fieldByTag(t, part)
		if !ok {
			return i
		}
		t = f.Type
		if t.Kind() == reflect.Map {
			return len(key) // a table of free-form keys ([outbound.routes])
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeFor[Duration]() {
			// A leaf: nothing may be under it.
			if i+1 < len(key) {
				return i + 1
			}
			return len(key)
		}
	}
	return len(key)
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if name := f.Tag.Get("toml"); name != "" && name != "-" && name == tag {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// knownKeysHint lists the keys allowed where key's last part was found.
func knownKeysHint(key toml.Key) string {
	t := configType
	for _, part := range key[:len(key)-1] {
		f, ok := fieldByTag(t, part)
		if !ok {
			return ""
		}
		t = f.Type
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeFor[Duration]() {
		return ""
	}
	var names []string
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("toml"); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	where := "at the top level"
	if len(key) > 1 {
		where = "in [" + strings.Join(key[:len(key)-1], ".") + "]"
	}
	return fmt.Sprintf(" (known keys %s: %s)", where, strings.Join(names, ", "))
}

// makePathsAbsolute resolves relative paths against the file's directory,
// so that the config means the same whatever the working directory.
func (c *Config) makePathsAbsolute() {
	if c.Path == "" {
		return
	}
	base := filepath.Dir(c.Path)
	for _, p := range []*string{&c.DataDir, &c.TLS.CertFile, &c.TLS.KeyFile, &c.Outbound.SmarthostPasswordFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
}

// errText is an OS error's message without the path the caller already
// shows.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
