package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Where a config path came from, as Resolve reports it.
const (
	SourceFlag    = "--config"
	SourceEnv     = "$MAILSUITE_CONFIG"
	SourceWorkDir = "./mailsuite.toml"
	SourceDev     = "development defaults"
)

// EnvVar names the environment variable Resolve consults.
const EnvVar = "MAILSUITE_CONFIG"

// Resolve picks the config file: flagPath (from --config) when given, else
// $MAILSUITE_CONFIG when set, else ./mailsuite.toml when it exists, else
// none ("" with SourceDev: use Dev()). The path returned is absolute. A
// file named by the flag or the variable must exist.
func Resolve(flagPath string) (path, source string, err error) {
	switch {
	case flagPath != "":
		path, source = flagPath, SourceFlag
	case os.Getenv(EnvVar) != "":
		path, source = os.Getenv(EnvVar), SourceEnv
	default:
		_, err := os.Stat("mailsuite.toml")
		if errors.Is(err, fs.ErrNotExist) {
			return "", SourceDev, nil
		}
		if err != nil {
			return "", SourceWorkDir, fmt.Errorf("config file ./mailsuite.toml: %s", errText(err))
		}
		path, source = "mailsuite.toml", SourceWorkDir
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", source, fmt.Errorf("config file %s (from %s): %s", path, source, errText(err))
	}
	if fi.IsDir() {
		return "", source, fmt.Errorf("config file %s (from %s) is a directory", path, source)
	}
	return path, source, nil
}
