package config

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

const examplePath = "../mailsuite.example.toml"

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The shipped example loads, validates (once data_dir points somewhere
// writable), turns on every service on its standard port, and shows every
// other key at its default.
func TestExampleConfig(t *testing.T) {
	c, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{
		{"smtp", "0.0.0.0:25", SecuritySTARTTLS},
		{"submission", "0.0.0.0:587", SecuritySTARTTLS},
		{"submissions", "0.0.0.0:465", SecurityImplicitTLS},
		{"imap", "0.0.0.0:143", SecuritySTARTTLS},
		{"imaps", "0.0.0.0:993", SecurityImplicitTLS},
		{"pop3", "0.0.0.0:110", SecuritySTARTTLS},
		{"pop3s", "0.0.0.0:995", SecurityImplicitTLS},
	}
	if got := c.Listeners(); !slices.Equal(got, want) {
		t.Errorf("listeners:\n%v\nwant:\n%v", got, want)
	}
	d := Default()
	if c.DataDir != d.DataDir || c.RecipientDelimiter != d.RecipientDelimiter || c.TLS != d.TLS ||
		!c.Auth.Equal(d.Auth) || c.Limits != d.Limits || c.Timeouts != d.Timeouts || c.Log != d.Log {
		t.Errorf("the example's values differ from Default():\n%+v\n%+v", c, d)
	}
	if c.Hostname != "mail.example.org" || !slices.Equal(c.Domains, []string{"example.org"}) {
		t.Errorf("hostname %q, domains %v", c.Hostname, c.Domains)
	}
	c.DataDir = t.TempDir()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Every key of the schema appears in the example, so that it documents
// them all.
func TestExampleShowsEveryKey(t *testing.T) {
	var m map[string]any
	md, err := toml.Decode(string(mustRead(t, examplePath)), &m)
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, k := range md.Keys() {
		shown = append(shown, strings.Join(k, "."))
	}
	for _, k := range schemaKeys(reflect.TypeFor[Config](), "") {
		if !slices.Contains(shown, k) {
			t.Errorf("the example does not show %s", k)
		}
	}
}

// schemaKeys lists every dotted key of the schema.
func schemaKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("toml")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, prefix+name)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]() {
			out = append(out, schemaKeys(f.Type, prefix+name+".")...)
		}
	}
	return out
}
