package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/mailsuite/mailsuite/users"
)

// Validate checks the configuration and reports every problem at once, in
// an *Error, each naming its key (and file:line for a loaded file). Beyond
// what Load already checks, it checks that data_dir could be created and
// written (checkDataDir). It changes nothing on disk: a check has no side
// effects, and serve creates data_dir itself.
func (c *Config) Validate() error {
	ps := &problems{c: c}
	c.check(ps)
	if c.DataDir != "" {
		c.checkDataDir(ps)
	}
	return ps.err()
}

// check runs every check that looks at nothing but the config and the TLS
// files.
func (c *Config) check(ps *problems) {
	c.checkNames(ps)
	c.checkListen(ps)
	c.checkTLS(ps)
	c.checkLimits(ps)
	c.checkAuth(ps)   // auth.go
	c.checkServer(ps) // server.go
	c.checkOutbound(ps)
	for _, t := range []struct {
		key string
		d   Duration
	}{
		{"timeouts.smtp", c.Timeouts.SMTP},
		{"timeouts.imap_idle", c.Timeouts.IMAPIdle},
		{"timeouts.pop3", c.Timeouts.POP3},
	} {
		if msg := t.d.problem(); msg != "" {
			ps.add(t.key, msg)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		ps.add("log.level", fmt.Sprintf("%q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		ps.add("log.format", fmt.Sprintf("%q is not one of text, json", c.Log.Format))
	}
}

func (c *Config) checkNames(ps *problems) {
	switch {
	case c.Hostname == "":
		ps.add("hostname", `must be set to this server's public name, like "mail.example.org"`)
	case !users.ValidDomain(c.Hostname):
		ps.add("hostname", fmt.Sprintf(`%q is not a valid host name (letters, digits, hyphens and dots, like "mail.example.org")`, c.Hostname))
	}
	if len(c.Domains) == 0 {
		ps.add("domains", `list at least one local domain, like domains = ["example.org"]`)
	}
	seen := map[string]bool{}
	for _, d := range c.Domains {
		switch {
		case !users.ValidDomain(d):
			ps.add("domains", fmt.Sprintf(`%q is not a valid domain name (letters, digits, hyphens and dots, like "example.org")`, d))
		case seen[strings.ToLower(d)]:
			ps.add("domains", fmt.Sprintf("%q is listed twice", d))
		}
		seen[strings.ToLower(d)] = true
	}
	if c.DataDir == "" {
		ps.add("data_dir", `must be set, like "/var/lib/mailsuite"`)
	}
	if !users.ValidDelimiter(c.RecipientDelimiter) {
		ps.add("recipient_delimiter", fmt.Sprintf("%q is not a recipient delimiter; use one of the characters !#$%%&'*+-/=?^_`{|}~, usually \"+\"", c.RecipientDelimiter))
	}
}

// listenAddr is a parsed listen address.
type listenAddr struct {
	key, text string
	host      string // "" for every address; "localhost"; or an IP's string form
	port      int
}

// wildcard reports whether the address listens on every local address.
func (a listenAddr) wildcard() bool {
	return a.host == "" || a.host == "0.0.0.0" || a.host == "::"
}

// overlaps reports whether two addresses would fight over one socket.
func (a listenAddr) overlaps(b listenAddr) bool {
	if a.port != b.port {
		return false
	}
	if a.wildcard() || b.wildcard() || a.host == b.host {
		return true
	}
	loop := func(h string) bool { return h == "localhost" || h == "127.0.0.1" || h == "::1" }
	return a.host == "localhost" && loop(b.host) || b.host == "localhost" && loop(a.host)
}

// parseListen checks one listen address: host:port with a numeric port
// from 1 to 65535, the host empty (all addresses), an IP or "localhost".
// Host names are refused: a name may resolve to anything, or to nothing at
// boot.
func parseListen(key, text string) (listenAddr, string) {
	a := listenAddr{key: key, text: text}
	host, port, err := net.SplitHostPort(text)
	if err != nil {
		return a, fmt.Sprintf(`%q is not host:port; write it like "0.0.0.0:%d" or "[::]:%d"`, text, standardPort[key], standardPort[key])
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || strings.Trim(port, "0123456789") != "" {
		return a, fmt.Sprintf("port %q must be a number from 1 to 65535", port)
	}
	a.port = n
	switch {
	case host == "":
	case strings.EqualFold(host, "localhost"):
		a.host = "localhost"
	default:
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return a, fmt.Sprintf(`host %q must be empty, an IP address or "localhost"`, host)
		}
		a.host = ip.Unmap().String()
	}
	return a, ""
}

// standardPort is each service's usual port, for examples in messages.
var standardPort = map[string]int{
	"listen.smtp": 25, "listen.submission": 587, "listen.submissions": 465,
	"listen.imap": 143, "listen.imaps": 993, "listen.pop3": 110, "listen.pop3s": 995,
}

func (c *Config) checkListen(ps *problems) {
	var ok []listenAddr
	for _, l := range c.Listeners() {
		key := "listen." + l.Name
		a, msg := parseListen(key, l.Address)
		if msg != "" {
			ps.add(key, msg)
			continue
		}
		for _, b := range ok {
			if !a.overlaps(b) {
				continue
			}
			if a.text == b.text {
				ps.add(key, fmt.Sprintf("%q is also used by %s", a.text, b.key))
			} else {
				ps.add(key, fmt.Sprintf("%q overlaps %s (%q): each service needs its own port", a.text, b.key, b.text))
			}
			break
		}
		ok = append(ok, a)
	}
}

func (c *Config) checkTLS(ps *problems) {
	cert, key := c.TLS.CertFile, c.TLS.KeyFile
	switch {
	case cert == "" && key == "":
		return // self-signed
	case key == "":
		ps.add("tls.key_file", "must be set too when cert_file is set (or leave both empty for a self-signed certificate)")
	case cert == "":
		ps.add("tls.cert_file", "must be set too when key_file is set (or leave both empty for a self-signed certificate)")
	}
	readable := true
	for _, f := range []struct{ key, path string }{{"tls.cert_file", cert}, {"tls.key_file", key}} {
		if f.path == "" {
			readable = false
			continue
		}
		if msg := checkReadable(f.path); msg != "" {
			ps.add(f.key, msg)
			readable = false
		}
	}
	if readable {
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			ps.add("tls.cert_file", fmt.Sprintf("cannot be used with key_file: %s", strings.TrimPrefix(err.Error(), "tls: ")))
		}
	}
}

// maxPEMSize bounds a certificate or key file; a chain of a few
// certificates is a few kilobytes.
const maxPEMSize = 1 << 20

// checkReadable says why path is not a readable, regular, PEM-sized file,
// or "". A FIFO or a device would block or never end, so it is refused
// before anything reads it.
func checkReadable(path string) string {
	// Stat before opening: opening a FIFO blocks until it has a writer.
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Sprintf("cannot read %q: %s", path, errText(err))
	case fi.IsDir():
		return fmt.Sprintf("cannot read %q: is a directory", path)
	case !fi.Mode().IsRegular():
		return fmt.Sprintf("cannot read %q: not a regular file", path)
	case fi.Size() > maxPEMSize:
		return fmt.Sprintf("cannot read %q: larger than %d bytes, not a PEM file", path, maxPEMSize)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("cannot read %q: %s", path, errText(err))
	}
	f.Close()
	return ""
}

// minLineLength: RFC 5321 §4.5.3.1.6 requires accepting text lines of
// 1000 octets with the CRLF, so a lower limit breaks ordinary mail.
const minLineLength = 1000

func (c *Config) checkLimits(ps *problems) {
	l := c.Limits
	for _, v := range []struct {
		key string
		n   int64
	}{
		{"limits.max_message_size", l.MaxMessageSize},
		{"limits.max_recipients", int64(l.MaxRecipients)},
		{"limits.max_line_length", int64(l.MaxLineLength)},
		{"limits.max_connections", int64(l.MaxConnections)},
		{"limits.max_connections_per_ip", int64(l.MaxConnectionsPerIP)},
	} {
		if v.n < 0 {
			ps.add(v.key, "must not be negative (0 means the default)")
		}
	}
	if l.MaxLineLength > 0 && l.MaxLineLength < minLineLength {
		ps.add("limits.max_line_length", fmt.Sprintf("must be at least %d (RFC 5321 §4.5.3.1.6)", minLineLength))
	}
}

// checkDataDir checks, without creating or writing anything, that serve
// could make data_dir and write in it: data_dir is a directory we may
// write in, or it is missing and the nearest directory above it that
// exists is one we may write in. (serve and the user commands create it.)
//
// Permission is the kernel's answer to access(2) for write and search.
// That catches missing permission and read-only file systems, but a
// superuser passes permission bits, and a few special file systems (sysfs)
// refuse writes that access(2) allows; serve then fails on its own mkdir
// or lock file, naming data_dir.
func (c *Config) checkDataDir(ps *problems) {
	dir := filepath.Clean(c.DataDir)
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		ps.add("data_dir", fmt.Sprintf("%q exists and is not a directory", c.DataDir))
		return
	case err == nil:
		if err := mayWriteIn(dir); err != nil {
			ps.add("data_dir", fmt.Sprintf("cannot write in %q: %s", c.DataDir, errText(err)))
		}
		return
	case !errors.Is(err, fs.ErrNotExist):
		// ENOTDIR (a file on the way), EACCES (a directory we may not
		// search), a loop: mkdir would fail the same way.
		ps.add("data_dir", fmt.Sprintf("cannot create %q: %s", c.DataDir, errText(err)))
		return
	}
	// Missing. A stat that says so has looked through every ancestor that
	// exists, so the nearest one is a directory; mkdir -p needs to write
	// in it.
	for parent := filepath.Dir(dir); ; parent = filepath.Dir(parent) {
		_, err := os.Stat(parent)
		if errors.Is(err, fs.ErrNotExist) && filepath.Dir(parent) != parent {
			continue
		}
		if err == nil {
			err = mayWriteIn(parent)
		}
		if err != nil {
			ps.add("data_dir", fmt.Sprintf("cannot create %q: cannot write in %q: %s", c.DataDir, parent, errText(err)))
		}
		return
	}
}

// mayWriteIn asks the kernel whether the caller may create files in dir:
// access(2) with W_OK|X_OK (values from POSIX <unistd.h>), which writes
// nothing.
func mayWriteIn(dir string) error {
	const wOK, xOK = 0x2, 0x1
	return syscall.Access(dir, wOK|xOK)
}
