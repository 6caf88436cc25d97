package config

import (
	"strconv"
	"time"
)

// Duration is a time.Duration written in the file as a Go duration string:
// "90s", "5m", "1h30m". A value that is not one is kept (as written) rather
// than failing the decode, so that Validate can report it together with
// every other problem.
type Duration struct {
	time.Duration
	invalid bool
	text    string // as written, when invalid
}

// UnmarshalText implements encoding.TextUnmarshaler for the TOML decoder.
// A bare number ("300") has no unit and is invalid: seconds or
// nanoseconds would both be a plausible reading.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		*d = Duration{invalid: true, text: string(b)}
		return nil
	}
	*d = Duration{Duration: v}
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	if d.invalid {
		return []byte(d.text), nil
	}
	return []byte(d.Duration.String()), nil
}

// problem says what is wrong with d, or "".
func (d Duration) problem() string {
	switch {
	case d.invalid:
		return strconv.Quote(d.text) + ` is not a duration; write it with a unit, like "90s", "5m" or "1h"`
	case d.Duration < 0:
		return "must not be negative"
	}
	return ""
}
