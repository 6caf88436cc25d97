package certs

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestSelfSignedMadeOnceAndServed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	h, err := New(Source{Dir: dir, Hostname: "mail.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := h.Paths()
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	first, _ := os.ReadFile(certFile)

	// A second start reuses the same certificate.
	if _, err := New(Source{Dir: dir, Hostname: "mail.example.test"}); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(certFile)
	if string(first) != string(second) {
		t.Error("self-signed certificate was made again on the second start")
	}

	// A TLS client that trusts the file sees the name in a handshake.
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
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(first)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "mail.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if v := c.ConnectionState().Version; v < tls.VersionTLS12 {
		t.Errorf("TLS version %x", v)
	}
	c.Close()

	// TLS 1.1 is refused.
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_, err = tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11})
	if err == nil {
		t.Error("TLS 1.1 handshake succeeded")
	}
}

func TestConfiguredFilesMissing(t *testing.T) {
	_, err := New(Source{CertFile: "/nonexistent/cert.pem", KeyFile: "/nonexistent/key.pem"})
	if err == nil {
		t.Fatal("no error for missing files")
	}
}

func TestReloadKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	h, err := New(Source{Dir: dir, Hostname: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	old := h.cert.Load()
	certFile, _ := h.Paths()
	os.WriteFile(certFile, []byte("garbage"), 0o644)
	// Self-signed: a broken file is replaced by a new certificate.
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	if h.cert.Load() == old {
		t.Error("certificate not replaced after reload")
	}
	// Configured files: a broken file is an error and the old one stays.
	h2 := &Holder{src: Source{CertFile: certFile, KeyFile: filepath.Join(dir, "key.pem")}}
	if err := h2.Reload(); err != nil {
		t.Fatal(err)
	}
	kept := h2.cert.Load()
	os.WriteFile(certFile, []byte("garbage"), 0o644)
	if err := h2.Reload(); err == nil {
		t.Error("reload of a broken file succeeded")
	}
	if h2.cert.Load() != kept {
		t.Error("old certificate dropped after a failed reload")
	}
}
