package config

import (
	"bytes"
	"strings"
)

// keyLines maps each dotted key of a TOML document to the line where it is
// first written, for error messages. The TOML decoder keeps positions to
// itself, so this is a small line scanner of its own: table headers and
// "key = value" lines, with bare, quoted and dotted keys. It runs only on
// text the decoder accepted, and a key it cannot place falls back to its
// table's line (Config.lineOf).
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	table := ""
	inMultiline := "" // the delimiter of an open multi-line string
	for i, raw := range bytes.Split(data, []byte("\n")) {
		n := i + 1
		line := strings.TrimSpace(string(raw))
		if inMultiline != "" {
			if closesMultiline(line, inMultiline) {
				inMultiline = ""
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			inner := strings.TrimPrefix(line, "[")
			inner = strings.TrimPrefix(inner, "[")
			end := closingBracket(inner)
			if end < 0 {
				continue
			}
			if parts, ok := parseKey(inner[:end]); ok {
				table = strings.Join(parts, ".")
				if _, seen := lines[table]; !seen {
					lines[table] = n
				}
			}
			continue
		}
		eq := indexOutsideQuotes(line, '=')
		if eq < 0 {
			continue
		}
		parts, ok := parseKey(line[:eq])
		if !ok {
			continue
		}
		key := strings.Join(parts, ".")
		if table != "" {
			key = table + "." + key
		}
		if _, seen := lines[key]; !seen {
			lines[key] = n
		}
		value := strings.TrimSpace(line[eq+1:])
		for _, delim := range []string{`"""`, `'''`} {
			if strings.HasPrefix(value, delim) && !closesMultiline(value[3:], delim) {
				inMultiline = delim
			}
		}
	}
	return lines
}

// closesMultiline reports whether s holds the closing delimiter.
func closesMultiline(s, delim string) bool {
	return strings.Contains(s, delim)
}

// closingBracket finds the "]" that ends a table header, outside quotes.
func closingBracket(s string) int {
	return indexOutsideQuotes(s, ']')
}

// indexOutsideQuotes finds c in s outside "…" and '…' strings.
func indexOutsideQuotes(s string, c byte) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		switch {
		case quote != 0:
			if s[i] == '\\' && quote == '"' {
				i++
			} else if s[i] == quote {
				quote = 0
			}
		case s[i] == '"' || s[i] == '\'':
			quote = s[i]
		case s[i] == c:
			return i
		}
	}
	return -1
}

// parseKey splits a TOML key ("a", "a.b", `"a b".c`) into its parts, as
// the decoder names them. Escapes in quoted parts are kept as written,
// which only matters for keys no schema has.
func parseKey(s string) ([]string, bool) {
	var parts []string
	for {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, false
		}
		var part string
		switch s[0] {
		case '"':
			end := -1
			for i := 1; i < len(s); i++ {
				if s[i] == '\\' {
					i++
				} else if s[i] == '"' {
					end = i
					break
				}
			}
			if end < 0 {
				return nil, false
			}
			part, s = s[1:end], s[end+1:]
		case '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, false
			}
			part, s = s[1:end+1], s[end+2:]
		default:
			i := 0
			for i < len(s) && isBareKeyChar(s[i]) {
				i++
			}
			if i == 0 {
				return nil, false
			}
			part, s = s[:i], s[i:]
		}
		parts = append(parts, part)
		s = strings.TrimSpace(s)
		if s == "" {
			return parts, true
		}
		if s[0] != '.' {
			return nil, false
		}
		s = s[1:]
	}
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}
