package main

// Privileges (issue 5, point 7). Ports below 1024 need root (or
// CAP_NET_BIND_SERVICE). Started as root, serve binds every listener, makes
// sure data_dir exists (mode 0700) and belongs to [server] user, and then
// switches to that user for good (privileges_linux.go) before it opens the
// store, reads the certificate or serves anything. Without [server] user it
// refuses to run as root unless every listener is on loopback (the shape of
// the development defaults: nothing is exposed beyond this host).
//
// The admin commands (user, alias, queue, dkim) run as root switch to that
// user too before touching data_dir, so that the files they create belong
// to the server.

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/mailsuite/mailsuite/config"
)

// runAs is the account serve switches to.
type runAs struct {
	name   string
	uid    int
	gid    int
	groups []int // supplementary groups (ssl-cert, to read a key, for example)
}

// errRootRefused: root, no [server] user, listeners beyond loopback.
var errRootRefused = errors.New(`refusing to run as root with listeners beyond loopback and no [server] user: ` +
	`set [server] user = "mailsuite" (an unprivileged account; serve binds its ports as root, then switches to it), ` +
	`or run mailsuite as that user with CAP_NET_BIND_SERVICE (systemd: User=mailsuite and AmbientCapabilities=CAP_NET_BIND_SERVICE)`)

// privilegePlan decides whether to switch users: nil when the process is
// not root (then [server] user does not matter), or when it is root on a
// loopback-only config without [server] user.
func privilegePlan(cfg *config.Config, log *slog.Logger) (*runAs, error) {
	if os.Geteuid() != 0 {
		if u, err := user.Current(); err == nil && cfg.Server.User != "" && u.Username != cfg.Server.User && log != nil {
			log.Warn("server.user is set but mailsuite was not started as root, so it cannot switch; running as the current user",
				"server_user", cfg.Server.User, "user", u.Username)
		}
		return nil, nil
	}
	if cfg.Server.User == "" {
		if !cfg.LoopbackOnly() {
			return nil, errRootRefused
		}
		if log != nil {
			log.Warn("running as root: fine for the loopback-only development setup; set [server] user for anything else")
		}
		return nil, nil
	}
	return lookupRunAs(cfg.Server.User)
}

func lookupRunAs(name string) (*runAs, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("server.user: %q is not a user on this system: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("server.user: %q has a uid or gid that is not a number (%s, %s)", name, u.Uid, u.Gid)
	}
	if uid == 0 {
		return nil, fmt.Errorf("server.user: %q is the superuser", name)
	}
	r := &runAs{name: name, uid: uid, gid: gid}
	gids, err := u.GroupIds()
	if err != nil {
		gids = nil // no group database: the primary group only
	}
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil && n != gid {
			r.groups = append(r.groups, n)
		}
	}
	return r, nil
}

// prepareDataDir, as root, creates data_dir with mode 0700 owned by the
// user (missing parents 0755, owned by root) or checks that an existing
// one belongs to the user, so that nothing in it is left owned by root.
func prepareDataDir(dir string, u *runAs) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return err
		}
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := os.Chown(dir, u.uid, u.gid); err != nil {
			return fmt.Errorf("giving it to %s: %w", u.name, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errors.New("not a directory")
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != u.uid {
		return fmt.Errorf("belongs to uid %d, not to %s (uid %d), who runs the server: chown -R %s: %s",
			st.Uid, u.name, u.uid, u.name, dir)
	}
	return nil
}

// adminAs switches an admin command started as root to [server] user
// before it touches data_dir (creating data_dir for it if need be). A
// config that does not load is left for the command to report.
func adminAs(inv invocation) error {
	if os.Geteuid() != 0 {
		return nil
	}
	cfg, _, err := loadConfig(inv)
	if err != nil || cfg.Server.User == "" {
		return nil
	}
	u, err := lookupRunAs(cfg.Server.User)
	if err != nil {
		return err
	}
	if err := prepareDataDir(cfg.DataDir, u); err != nil {
		return fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	return dropPrivileges(u)
}
