package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validConfig is a configuration that passes Validate, to be broken one
// field at a time.
func validConfig(t *testing.T) *Config {
	t.Helper()
	c := Default()
	c.Hostname = "mail.example.org"
	c.Domains = []string{"example.org", "example.net"}
	c.DataDir = t.TempDir()
	c.Listen = Listen{SMTP: "0.0.0.0:25", Submission: ":587", IMAPS: "[::]:993", POP3: "127.0.0.1:110"}
	return c
}

// writeFile writes content to name in dir and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// certPair writes a self-signed certificate and its key, returning paths.
func certPair(t *testing.T, dir, prefix string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mail.example.org"},
		DNSNames:     []string{"mail.example.org"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert = writeFile(t, dir, prefix+"cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	key = writeFile(t, dir, prefix+"key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
	return cert, key
}

// problemStrings renders an error from Load or Validate as its lines;
// nil for nil. Any other error type fails the test.
func problemStrings(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %T %v is not *config.Error", err, err)
	}
	if got := strings.Join(lines(e), "\n"); got != e.Error() {
		t.Fatalf("Error() = %q, not the problems one per line", e.Error())
	}
	return lines(e)
}

func lines(e *Error) []string {
	var out []string
	for _, p := range e.Problems {
		out = append(out, p.String())
	}
	return out
}
