// Package certs provides the TLS certificate that every listener serves:
// loaded from the configured files, or a self-signed one made in the data
// directory on first start. The certificate sits behind an atomic pointer so
// that a reload (SIGHUP, or Watch seeing the files change) takes effect for
// new handshakes without a restart.
//
// It owns no listener and knows no protocol.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/mailsuite/mailsuite/internal/safeio"
)

// Source says where the certificate comes from.
type Source struct {
	CertFile string // both empty: self-signed in Dir
	KeyFile  string
	Dir      string // where a self-signed certificate is kept
	Hostname string // the name a self-signed certificate is made for
}

// Holder serves the current certificate to TLS handshakes.
type Holder struct {
	src  Source
	cert atomic.Pointer[tls.Certificate]
	// loaded identifies the files the current certificate was read from
	// (watch.go).
	loaded atomic.Pointer[pairState]
	// SelfSigned reports whether the certificate was made by us.
	SelfSigned bool
}

// New loads the certificate, making a self-signed one when no files are
// configured and none was made before (or the old one expired).
func New(src Source) (*Holder, error) {
	h := &Holder{src: src, SelfSigned: src.CertFile == "" && src.KeyFile == ""}
	if err := h.Reload(); err != nil {
		return nil, err
	}
	return h, nil
}

// Reload reads the certificate again; on error the old one stays in use.
func (h *Holder) Reload() error {
	certFile, keyFile := h.src.CertFile, h.src.KeyFile
	if h.SelfSigned {
		var err error
		certFile, keyFile, err = ensureSelfSigned(h.src.Dir, h.src.Hostname, time.Now())
		if err != nil {
			return err
		}
	}
	st := statPair(certFile, keyFile) // before reading: a later change is seen again
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("tls: loading %s and %s: %w", certFile, keyFile, err)
	}
	h.cert.Store(&c)
	h.loaded.Store(&st)
	return nil
}

// Config returns a server TLS configuration: TLS 1.2 at least, Go's default
// cipher suites, and the holder's current certificate.
func (h *Holder) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return h.cert.Load(), nil
		},
	}
}

// Paths returns the files the certificate is read from.
func (h *Holder) Paths() (certFile, keyFile string) {
	if h.SelfSigned {
		return filepath.Join(h.src.Dir, "cert.pem"), filepath.Join(h.src.Dir, "key.pem")
	}
	return h.src.CertFile, h.src.KeyFile
}

// ensureSelfSigned makes dir/cert.pem and dir/key.pem unless a valid pair is
// already there, and returns their paths.
func ensureSelfSigned(dir, hostname string, now time.Time) (string, string, error) {
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if stillValid(certFile, keyFile, now) {
		return certFile, keyFile, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("tls: making %s: %w", dir, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hostname, Organization: []string{"mailsuite self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{hostname},
	}
	if hostname != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, "localhost")
	}
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	// Key first: a crash between the two writes leaves a key without a
	// certificate, which the next start simply replaces.
	if err := writeFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", err
	}
	if err := writeFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

func stillValid(certFile, keyFile string, now time.Time) bool {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil || c.Leaf == nil {
		return false
	}
	return now.Add(24 * time.Hour).Before(c.Leaf.NotAfter)
}

// writeFile replaces path durably (internal/safeio), created with mode.
func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := safeio.OS().WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("tls: writing %s: %w", path, err)
	}
	return nil
}
