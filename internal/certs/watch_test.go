package certs

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pair makes a self-signed pair for name in a directory of its own and
// returns the PEM bytes.
func pair(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	certFile, keyFile, err := ensureSelfSigned(t.TempDir(), name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, _ := os.ReadFile(certFile)
	k, _ := os.ReadFile(keyFile)
	return c, k
}

// replace writes data to path through a new file and a rename, as
// certbot and most deploy scripts do.
func replace(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := writeFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// served returns the name in the certificate a TLS handshake gets.
func served(t *testing.T, h *Holder) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", h.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// waitServed waits (bounded) until handshakes get the certificate of name.
func waitServed(t *testing.T, h *Holder, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := served(t, h)
		if got == name {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("handshakes still get %q, want %q", got, name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Replacing the configured files is picked up without a SIGHUP; a
// renewal seen half done keeps the old certificate (logged once) until the
// pair matches again.
func TestWatchReloadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	aCert, aKey := pair(t, "a.example.test")
	bCert, bKey := pair(t, "b.example.test")
	replace(t, certFile, aCert)
	replace(t, keyFile, aKey)
	h, err := New(Source{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuf{}
	stop := h.Watch(5*time.Millisecond, slog.New(slog.NewTextHandler(logs, nil)))
	defer stop()
	if got := served(t, h); got != "a.example.test" {
		t.Fatalf("served %q", got)
	}

	// The new certificate without its key: it does not load; A stays.
	replace(t, certFile, bCert)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "do not load") {
		if time.Now().After(deadline) {
			t.Fatalf("no error logged for a mismatched pair:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // several more polls of the same state
	if got := served(t, h); got != "a.example.test" {
		t.Errorf("after a half-done renewal handshakes get %q, want the old a.example.test", got)
	}
	if n := strings.Count(logs.String(), "do not load"); n != 1 {
		t.Errorf("the same broken state was logged %d times, want once:\n%s", n, logs.String())
	}

	replace(t, keyFile, bKey)
	waitServed(t, h, "b.example.test")
	if !strings.Contains(logs.String(), "certificate reloaded") || !strings.Contains(logs.String(), "subject=b.example.test") {
		t.Errorf("no reload line:\n%s", logs.String())
	}
}

// certbot keeps live/*.pem as symbolic links into archive/ and re-points
// them at renewal: the target is what counts.
func TestWatchFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "archive")
	os.Mkdir(archive, 0o700)
	aCert, aKey := pair(t, "a.example.test")
	bCert, bKey := pair(t, "b.example.test")
	replace(t, filepath.Join(archive, "cert1.pem"), aCert)
	replace(t, filepath.Join(archive, "key1.pem"), aKey)
	replace(t, filepath.Join(archive, "cert2.pem"), bCert)
	replace(t, filepath.Join(archive, "key2.pem"), bKey)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	link := func(target, name string) {
		tmp := name + ".new"
		if err := os.Symlink(target, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, name); err != nil {
			t.Fatal(err)
		}
	}
	link("archive/cert1.pem", certFile)
	link("archive/key1.pem", keyFile)
	h, err := New(Source{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	stop := h.Watch(5*time.Millisecond, nil)
	defer stop()
	link("archive/key2.pem", keyFile)
	link("archive/cert2.pem", certFile)
	waitServed(t, h, "b.example.test")
}

// After stop, changes are no longer picked up (and stop waits for the
// watcher).
func TestWatchStop(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	aCert, aKey := pair(t, "a.example.test")
	bCert, bKey := pair(t, "b.example.test")
	replace(t, certFile, aCert)
	replace(t, keyFile, aKey)
	h, err := New(Source{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	h.Watch(time.Millisecond, nil)()
	replace(t, keyFile, bKey)
	replace(t, certFile, bCert)
	time.Sleep(20 * time.Millisecond)
	if got := served(t, h); got != "a.example.test" {
		t.Errorf("a stopped watcher reloaded: %q", got)
	}
	// SIGHUP's Reload still works.
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(t, h); got != "b.example.test" {
		t.Errorf("after Reload: %q", got)
	}
}

// The policy every listener gets: TLS 1.2 at least, Go's default cipher
// suites (nil), and TLS 1.0 and 1.1 clients refused while 1.2 and 1.3
// clients connect.
func TestConfigPolicy(t *testing.T) {
	h, err := New(Source{Dir: t.TempDir(), Hostname: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.Config()
	if cfg.MinVersion != tls.VersionTLS12 || cfg.CipherSuites != nil || cfg.MaxVersion != 0 {
		t.Errorf("MinVersion %x, MaxVersion %x, CipherSuites %v", cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: v, MaxVersion: v})
		ok := err == nil
		if ok {
			c.Close()
		}
		if want := v >= tls.VersionTLS12; ok != want {
			t.Errorf("client limited to %s: handshake ok=%v, want %v (%v)", tls.VersionName(v), ok, want, err)
		}
	}
}
