package main

// TLS policy through the real binary (issue 5, point 2): every listener,
// implicit TLS and STARTTLS alike, refuses TLS 1.0 and 1.1 and accepts 1.2
// and 1.3; a certificate replaced on disk is served without a SIGHUP.

import (
	"bufio"
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
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for mail.example.org with
// the given organisation (to tell certificates apart) to cert and key,
// each through a rename as a renewal tool would.
func writeCert(t *testing.T, certFile, keyFile, org string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "mail.example.org", Organization: []string{org}},
		DNSNames:     []string{"mail.example.org"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	put := func(path string, b *pem.Block) {
		tmp := path + ".new"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	put(keyFile, &pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	put(certFile, &pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// handshake connects to listener key with a client limited to version
// and returns the organisation of the certificate served.
func handshake(in *instance, key string, version uint16) (string, error) {
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: version, MaxVersion: version}
	addr := in.addr[key]
	var state tls.ConnectionState
	switch key {
	case "submissions", "imaps", "pop3s":
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			return "", err
		}
		defer c.Close()
		state = c.ConnectionState()
	default:
		// STARTTLS (RFC 3207 §4, RFC 9051 §6.2.1) and STLS (RFC 2595 §4)
		// by hand, to see the handshake's own outcome.
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return "", err
		}
		defer nc.Close()
		r := bufio.NewReader(nc)
		line := func() string { l, _ := r.ReadString('\n'); return l }
		greeting := line()
		var ready string
		switch key {
		case "smtp", "submission":
			for strings.HasPrefix(greeting, "220-") {
				greeting = line()
			}
			fmt.Fprint(nc, "EHLO client.test\r\n")
			for l := line(); strings.HasPrefix(l, "250-"); l = line() {
			}
			fmt.Fprint(nc, "STARTTLS\r\n")
			ready = "220 "
		case "imap":
			fmt.Fprint(nc, "a STARTTLS\r\n")
			ready = "a OK"
		case "pop3":
			fmt.Fprint(nc, "STLS\r\n")
			ready = "+OK"
		}
		if l := line(); !strings.HasPrefix(l, ready) {
			return "", fmt.Errorf("%s: STARTTLS answered %q", key, l)
		}
		tc := tls.Client(nc, cfg)
		if err := tc.Handshake(); err != nil {
			return "", err
		}
		state = tc.ConnectionState()
	}
	return state.PeerCertificates[0].Subject.Organization[0], nil
}

func TestTLSPolicyAndCertificateWatch(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	writeCert(t, certFile, keyFile, "first")
	in := newInstance(t, fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\n", certFile, keyFile))
	in.start()
	in.waitLog("mailsuite ready")

	for _, key := range listenKeys {
		for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
			org, err := handshake(in, key, v)
			if v < tls.VersionTLS12 {
				if err == nil {
					t.Errorf("%s: a %s client got through", key, tls.VersionName(v))
				}
				continue
			}
			if err != nil || org != "first" {
				t.Errorf("%s with %s: %q, %v", key, tls.VersionName(v), org, err)
			}
		}
	}

	// A renewal: new files, no SIGHUP. Within the watcher's interval
	// every listener serves the new certificate.
	writeCert(t, certFile, keyFile, "second")
	in.waitLogWithin("certificate reloaded: the files changed", 20*time.Second)
	for _, key := range listenKeys {
		if org, err := handshake(in, key, tls.VersionTLS13); err != nil || org != "second" {
			t.Errorf("%s after the renewal: %q, %v", key, org, err)
		}
	}
}

// waitLogWithin is waitLog with a longer bound.
func (in *instance) waitLogWithin(s string, d time.Duration) {
	in.t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(in.log.String(), s) {
		if time.Now().After(deadline) {
			in.t.Fatalf("server log never showed %q:\n%s", s, in.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
