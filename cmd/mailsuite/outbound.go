package main

import (
	"crypto/x509"
	"fmt"
	"path/filepath"
	"time"

	"github.com/mailsuite/mailsuite/config"
	"github.com/mailsuite/mailsuite/smtpd/queue"
)

// queueDir and dkimDir are where the outbound queue and the DKIM keys live
// under data_dir.
func queueDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "queue") }
func dkimDir(cfg *config.Config) string  { return filepath.Join(cfg.DataDir, "dkim") }

// outboundHooks replace what the queue uses to reach the network, for
// tests that run servers in-process (the zero value: the real network).
type outboundHooks struct {
	resolver queue.Resolver
	dialer   queue.Dialer
	mxPort   int
	rootCAs  *x509.CertPool
	retryMin time.Duration
	retryMax time.Duration
}

// openQueue opens the outbound queue from [outbound] (serve.go starts it
// once every listener is up).
func (r *running) openQueue(h outboundHooks) error {
	cfg := r.cfg
	o := cfg.Outbound
	opts := queue.Options{
		Hostname:              cfg.Hostname,
		Store:                 r.store,
		Logger:                r.log,
		Resolver:              h.resolver,
		Dialer:                h.dialer,
		RootCAs:               h.rootCAs,
		MXPort:                h.mxPort,
		Routes:                o.Routes,
		DKIMDir:               dkimDir(cfg),
		MaxConnections:        o.MaxConnections,
		MaxConnectionsPerHost: o.MaxConnectionsPerDomain,
		RetryMin:              o.RetryMin.Duration,
		RetryMax:              o.RetryMax.Duration,
		Lifetime:              o.Lifetime.Duration,
		DelayWarning:          o.DelayWarning.Duration,
		// In the config "0s" turns the warning off; in queue.Options
		// a negative value does.
	}
	if o.DelayWarning.Duration == 0 {
		opts.DelayWarning = -1
	}
	if h.retryMin > 0 {
		opts.RetryMin, opts.RetryMax = h.retryMin, h.retryMax
	}
	if o.Smarthost != "" {
		opts.Smarthost = &queue.Smarthost{Addr: o.Smarthost, TLS: queue.TLSMode(o.SmarthostTLS), Username: o.SmarthostUser}
		if o.SmarthostPasswordFile != "" {
			pw, err := config.ReadPassword(o.SmarthostPasswordFile)
			if err != nil {
				return fmt.Errorf("outbound.smarthost_password_file: %w", err)
			}
			opts.Smarthost.Password = pw
		}
	}
	q, err := queue.Open(queueDir(cfg), opts)
	if err != nil {
		return fmt.Errorf("outbound queue %s: %w", queueDir(cfg), err)
	}
	r.queue = q
	return nil
}
