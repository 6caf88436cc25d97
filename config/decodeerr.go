package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// decodeProblem turns the TOML decoder's error into a Problem in the
// "file:line: key: message" form of every other config problem.
func decodeProblem(c *Config, err error) Problem {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return Problem{File: c.Path, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}
	}
	if p, ok := typeProblem(c, err.Error()); ok {
		return p
	}
	return Problem{File: c.Path, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
}

// typeProblem reads a type mismatch, which the decoder (BurntSushi/toml
// v1.6.0) reports not as a ParseError but as text:
//
//	toml: line 3 (last key "limits.max_recipients"): incompatible types: TOML value has type string; destination has type integer
//	toml: line 5 (last key "listen"): type mismatch for config.Listen: expected table but found string
//
// ("line N " is left out when the decoder does not know it). ok is false
// for text of another shape.
func typeProblem(c *Config, text string) (p Problem, ok bool) {
	text, ok = strings.CutPrefix(text, "toml: ")
	if !ok {
		return Problem{}, false
	}
	line := 0
	if rest, ok := strings.CutPrefix(text, "line "); ok {
		n, after, _ := strings.Cut(rest, " ")
		if line, _ = strconv.Atoi(n); line <= 0 {
			return Problem{}, false
		}
		text = after
	}
	rest, ok := strings.CutPrefix(text, "(last key ")
	if !ok {
		return Problem{}, false
	}
	quoted, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return Problem{}, false
	}
	key, _ := strconv.Unquote(quoted)
	msg, ok := strings.CutPrefix(rest[len(quoted):], "): ")
	if !ok || key == "" {
		return Problem{}, false
	}
	if line == 0 {
		line = c.lineOf(key)
	}
	return Problem{File: c.Path, Line: line, Key: key, Msg: typeMessage(key, msg)}, true
}

// typeMessage says in the schema's words what the value of key is and
// should have been: "is a string; it must be a whole number". A message it cannot read
// is returned as the decoder wrote it.
func typeMessage(key, msg string) string {
	var found string
	if _, after, ok := strings.Cut(msg, "TOML value has type "); ok {
		found, _, _ = strings.Cut(after, ";")
	} else if _, after, ok := strings.Cut(msg, " but found "); ok {
		found = after
	}
	t, ok := schemaType(key)
	if found == "" || !ok {
		return msg
	}
	// An entry of an array of the wrong type: the decoder names the
	// entry's destination, not the array's.
	if t.Kind() == reflect.Slice && !strings.Contains(msg, "destination has type slice") {
		return fmt.Sprintf("has an entry that is %s; each must be %s", typeFound(found), typeWanted(t.Elem()))
	}
	return fmt.Sprintf("is %s; it must be %s", typeFound(found), typeWanted(t))
}

// schemaType is the Go type of the field a dotted key names.
func schemaType(key string) (reflect.Type, bool) {
	t := configType
	for _, part := range strings.Split(key, ".") {
		f, ok := fieldByTag(t, part)
		if !ok {
			return nil, false
		}
		t = f.Type
	}
	return t, true
}

// typeWanted describes what a TOML value for a field of type t looks like.
func typeWanted(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[Duration]():
		return `a duration in quotes, like "5m"`
	case t.Kind() == reflect.String:
		return "a string in quotes"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "a whole number"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return `an array of strings, like ["a", "b"]`
	case t.Kind() == reflect.Slice:
		return "an array"
	case t.Kind() == reflect.Struct:
		return "a table"
	}
	return t.String()
}

// typeFound names a TOML value by the Go type the decoder gave it.
func typeFound(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "int64":
		return "a whole number"
	case "float64":
		return "a decimal number"
	case "bool":
		return "true or false"
	case "[]any", "[]map[string]any":
		return "an array"
	case "map[string]any":
		return "a table"
	case "time.Time":
		return "a date or time"
	}
	return goType
}
