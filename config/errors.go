package config

import (
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	File string // the config file; "" for built-in defaults
	Line int    // 1-based; 0 when unknown
	Key  string // dotted key, like "listen.imap"; "" for the file as a whole
	Msg  string
}

// String renders "file:line: key: message", leaving out what is unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is every problem Load or Validate found, in the order checked.
type Error struct {
	Problems []Problem
}

// Error lists the problems one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems against one Config.
type problems struct {
	c    *Config
	list []Problem
}

// add records a problem with key, placing it at the key's line (or the
// line of its nearest enclosing table) when the file has one.
func (ps *problems) add(key, msg string) {
	ps.list = append(ps.list, Problem{File: ps.c.Path, Line: ps.c.lineOf(key), Key: key, Msg: msg})
}

// err returns nil or an *Error holding the problems.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &Error{Problems: ps.list}
}

// lineOf finds the line of key, or of its closest parent that has one.
func (c *Config) lineOf(key string) int {
	for k := key; k != ""; {
		if n, ok := c.lines[k]; ok {
			return n
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}
