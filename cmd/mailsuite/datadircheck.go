package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/mailsuite/mailsuite/config"
)

// checkDataDir tells `config check` whether serve could use data_dir, and
// writes nothing. The config's own validation has checked that the account
// running the check can write data_dir or create it. Started as root, serve
// refuses a public config without [server] user; with one, it creates a
// missing data_dir for that user or needs an existing one to belong to it,
// and the user must be able to pass through every directory above it
// (data_dir under /root is a classic). Those are checked here.
func checkDataDir(cfg *config.Config) error {
	run, err := privilegePlan(cfg, nil)
	if err != nil || run == nil {
		return err
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return reachableBy(run, filepath.Dir(dir), dir)
	case err != nil:
		return fmt.Errorf("data_dir %s: %w", dir, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != run.uid {
		return fmt.Errorf("data_dir %s belongs to uid %d, not to %s (uid %d), who runs the server: chown -R %s: %s",
			dir, st.Uid, run.name, run.uid, run.name, dir)
	}
	return reachableBy(run, filepath.Dir(dir), dir)
}

// reachableBy checks that run may search every directory from dir up to
// the root, as the kernel would for data_dir (named in the error).
func reachableBy(run *runAs, dir, dataDir string) error {
	for {
		if fi, err := os.Stat(dir); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && !mayPass(run, fi.Mode().Perm(), int(st.Uid), int(st.Gid)) {
				return fmt.Errorf("data_dir %s is out of reach of %s, who runs the server: %s (mode %v) does not let it pass; choose a data_dir outside it, or chmod o+x %s",
					dataDir, run.name, dir, fi.Mode().Perm(), dir)
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// mayPass reports whether run has search (x) permission on a directory
// with mode perm owned by uid:gid.
func mayPass(run *runAs, perm fs.FileMode, uid, gid int) bool {
	switch {
	case uid == run.uid:
		return perm&0o100 != 0
	case gid == run.gid || slices.Contains(run.groups, gid):
		return perm&0o010 != 0
	}
	return perm&0o001 != 0
}
