package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	flagFile := writeFile(t, dir, "flag.toml", minimalFile)
	envFile := writeFile(t, dir, "env.toml", minimalFile)

	t.Setenv(EnvVar, "")
	// Nothing: development defaults.
	if p, s, err := Resolve(""); p != "" || s != SourceDev || err != nil {
		t.Errorf("nothing: %q %q %v", p, s, err)
	}
	// ./mailsuite.toml when it exists.
	local := writeFile(t, dir, "mailsuite.toml", minimalFile)
	if p, s, err := Resolve(""); p != local || s != SourceWorkDir || err != nil {
		t.Errorf("./mailsuite.toml: %q %q %v", p, s, err)
	}
	// The variable beats ./mailsuite.toml.
	t.Setenv(EnvVar, "env.toml")
	if p, s, err := Resolve(""); p != envFile || s != SourceEnv || err != nil {
		t.Errorf("env: %q %q %v", p, s, err)
	}
	// The flag beats both.
	if p, s, err := Resolve("flag.toml"); p != flagFile || s != SourceFlag || err != nil {
		t.Errorf("flag: %q %q %v", p, s, err)
	}
	// A named file must exist.
	_, _, err := Resolve("nope.toml")
	if want := "config file " + filepath.Join(dir, "nope.toml") + " (from --config): no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("missing flag file: %v", err)
	}
	t.Setenv(EnvVar, filepath.Join(dir, "gone.toml"))
	_, _, err = Resolve("")
	if want := "config file " + filepath.Join(dir, "gone.toml") + " (from $MAILSUITE_CONFIG): no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("missing env file: %v, want %s", err, want)
	}
	if err := os.Mkdir(filepath.Join(dir, "d.toml"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Resolve("d.toml"); err == nil || !strings.HasSuffix(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
}
