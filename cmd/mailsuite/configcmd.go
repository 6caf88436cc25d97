package main

import (
	"errors"
	"fmt"
	"io"
)

// configCommand is `config check`: load and validate the config, print the
// listeners one per line and "config OK: <path or development defaults>".
// A config with no listener is refused, since serve would not start on it.
// A local domain whose postmaster reaches nobody is a warning on stderr,
// not a failure (users may be added after the check). A data_dir that
// serve could not use is a failure (datadircheck.go). It writes nothing:
// not data_dir, not the users file.
func configCommand(inv invocation, rest []string, stdout, stderr io.Writer) error {
	if _, _, err := subcommand("config", rest, map[string][2]int{"check": {0, 0}}); err != nil {
		return err
	}
	cfg, path, err := loadConfig(inv)
	if err != nil {
		return err
	}
	if len(cfg.Listeners()) == 0 {
		return errors.New("no service is turned on: set at least one address under [listen], or serve will not start")
	}
	if err := checkDataDir(cfg); err != nil {
		return err
	}
	checkPostmasters(cfg, stderr)
	for _, l := range cfg.Listeners() {
		fmt.Fprintf(stdout, "%-12s %-24s %s\n", l.Name, l.Address, l.Security)
	}
	if path == "" {
		path = "development defaults"
	}
	fmt.Fprintf(stdout, "config OK: %s\n", path)
	return nil
}
