package config

import (
	"fmt"
	"net/netip"
	"os/user"
)

// Server holds how the server process runs.
type Server struct {
	// User is the unprivileged account serve switches to after binding
	// its listeners, when started as root (ports below 1024 need root or
	// CAP_NET_BIND_SERVICE). "" means no switch: serve then refuses to
	// run as root unless every listener is on loopback.
	User string `toml:"user"`
}

// checkServer reports a [server] user that does not exist on this system
// or is the superuser.
func (c *Config) checkServer(ps *problems) {
	name := c.Server.User
	if name == "" {
		return
	}
	u, err := user.Lookup(name)
	if err != nil {
		ps.add("server.user", fmt.Sprintf("%q is not a user on this system (create it, for example: useradd --system --home-dir %s --shell /usr/sbin/nologin %s)", name, c.DataDir, name))
		return
	}
	if u.Uid == "0" {
		ps.add("server.user", fmt.Sprintf("%q is the superuser; name an unprivileged user, or leave it empty", name))
	}
}

// LoopbackOnly reports whether every listener is on a loopback address
// (127.0.0.0/8, ::1 or "localhost"), as in the development defaults:
// nothing is exposed beyond this host.
func (c *Config) LoopbackOnly() bool {
	ls := c.Listeners()
	for _, l := range ls {
		a, msg := parseListen("listen."+l.Name, l.Address)
		if msg != "" {
			return false
		}
		if a.host == "localhost" {
			continue
		}
		ip, err := netip.ParseAddr(a.host)
		if err != nil || !ip.IsLoopback() {
			return false
		}
	}
	return len(ls) > 0
}
