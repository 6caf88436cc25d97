package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/mailsuite/mailsuite/config"
	"github.com/mailsuite/mailsuite/imapd"
	"github.com/mailsuite/mailsuite/internal/certs"
	"github.com/mailsuite/mailsuite/internal/connlimit"
	"github.com/mailsuite/mailsuite/internal/memtrim"
	"github.com/mailsuite/mailsuite/mailbox"
	"github.com/mailsuite/mailsuite/pop3d"
	"github.com/mailsuite/mailsuite/smtpd"
	"github.com/mailsuite/mailsuite/smtpd/queue"
	"github.com/mailsuite/mailsuite/users"
)

// shutdownGrace is how long SIGTERM waits for sessions to finish (an SMTP
// DATA in flight, an IMAP APPEND) before they are cut. A cut session never
// leaves a partial message: the store writes through tmp/ and renames.
const shutdownGrace = 20 * time.Second

// server is one protocol server as serve drives it.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// running is what serve has started, kept for reload and shutdown.
type running struct {
	cfg    *config.Config
	log    *slog.Logger
	users  *users.FileDB
	auth   *users.Limited // users behind the login limiter (authlimit.go)
	store  *mailbox.Maildir
	queue  *queue.Queue // outbound.go
	cert   *certs.Holder
	lock   *os.File
	names  []string
	lns    []net.Listener
	srvs   []server
	served sync.WaitGroup

	stopWatch func() // stops the certificate file watcher
}

// runServe runs every configured listener until SIGTERM or SIGINT (or ctx
// ends), reloading config, users and certificate on SIGHUP.
func runServe(ctx context.Context, cfg *config.Config, cfgSource string, logger *slog.Logger) error {
	if cfgSource == "" {
		logger.Warn("no config file: running on the development defaults",
			"data_dir", cfg.DataDir, "hostname", cfg.Hostname, "domains", cfg.Domains,
			"hint", "listeners are on 127.0.0.1 only; write mailsuite.toml (see mailsuite.example.toml) for a real deployment")
	} else {
		logger.Info("config loaded", "file", cfgSource)
	}
	logger.Info("effective config", "config", cfg)

	r, err := start(cfg, logger, outboundHooks{})
	if err != nil {
		return err
	}

	// Memory a burst of work left behind goes back to the system once
	// the server is quiet (internal/memtrim).
	trimCtx, stopTrim := context.WithCancel(context.Background())
	defer stopTrim()
	go memtrim.Run(trimCtx, memtrim.Options{Log: logger.With("component", "memory")})

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for {
		select {
		case <-ctx.Done():
			return r.shutdown()
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				r.reload(cfgSource)
				continue
			}
			logger.Info("shutting down", "signal", sig.String(), "grace", shutdownGrace.String())
			return r.shutdown()
		}
	}
}

// start binds every listener (so that a port in use fails before anything
// is served), switches to [server] user when started as root
// (privileges.go), opens the stores and serves.
func start(cfg *config.Config, logger *slog.Logger, hooks outboundHooks) (*running, error) {
	r := &running{cfg: cfg, log: logger}
	ok := false
	defer func() {
		if !ok {
			r.closeAll()
		}
	}()

	listeners := cfg.Listeners()
	if len(listeners) == 0 {
		return nil, errors.New("no listener is configured: set at least one address under [listen]")
	}
	runAs, err := privilegePlan(cfg, logger)
	if err != nil {
		return nil, err
	}
	if runAs != nil {
		// Before anything is made or switched, so that the admin is told
		// why, not "permission denied" from the store.
		if abs, aerr := filepath.Abs(cfg.DataDir); aerr == nil {
			if err := reachableBy(runAs, filepath.Dir(abs), abs); err != nil {
				return nil, err
			}
		}
		err = prepareDataDir(cfg.DataDir, runAs)
	} else {
		err = os.MkdirAll(cfg.DataDir, 0o700)
	}
	if err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	// The lock first: a second server on this data_dir is told so, not
	// that its ports are taken.
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	r.lock = lock
	if runAs != nil {
		// Made by root: the admin commands, run as the user, open it too.
		if err := lock.Chown(runAs.uid, runAs.gid); err != nil {
			return nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
		}
	}
	for _, l := range listeners {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			return nil, fmt.Errorf("listen.%s: cannot listen on %s: %w", l.Name, l.Address, err)
		}
		r.lns = append(r.lns, ln)
	}
	if runAs != nil {
		if err := dropPrivileges(runAs); err != nil {
			return nil, err
		}
		logger.Info("switched to the unprivileged user after binding the listeners", "user", runAs.name, "uid", runAs.uid, "gid", runAs.gid)
	}

	r.users, err = users.OpenFile(cfg.UsersFile(), users.FileOptions{
		Domains:   cfg.Domains,
		Delimiter: cfg.RecipientDelimiter,
		Logger:    logger,
	})
	if err != nil {
		return nil, fmt.Errorf("user database %s: %w", cfg.UsersFile(), err)
	}
	r.auth = newAuthLimiter(cfg, r.users, logger)
	r.store, err = mailbox.Open(filepath.Join(cfg.DataDir, "mail"), mailbox.Options{
		Logger:   logger,
		Hostname: cfg.Hostname,
		// The SMTP limit counts the message as the client sends it; the
		// store also holds our trace header fields.
		MaxMessageSize: cfg.Limits.MaxMessageSize + 1<<20,
	})
	if err != nil {
		return nil, fmt.Errorf("mail store %s: %w", filepath.Join(cfg.DataDir, "mail"), err)
	}
	if err := r.openQueue(hooks); err != nil {
		return nil, err
	}
	r.cert, err = certs.New(certs.Source{
		CertFile: cfg.TLS.CertFile,
		KeyFile:  cfg.TLS.KeyFile,
		Dir:      filepath.Join(cfg.DataDir, "tls"),
		Hostname: cfg.Hostname,
	})
	if err != nil {
		if runAs != nil && errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%w (read as user %s, after the switch: the files must be readable by it)", err, runAs.name)
		}
		return nil, err
	}
	certFile, _ := r.cert.Paths()
	logger.Info("tls certificate", "file", certFile, "self_signed", r.cert.SelfSigned)
	r.stopWatch = r.cert.Watch(certs.DefaultWatchInterval, logger)

	tlsConfig := r.cert.Config()
	limiter := connlimit.New(cfg.Limits.MaxConnections, cfg.Limits.MaxConnectionsPerIP, logger)
	for i, l := range listeners {
		ln := r.lns[i]
		if l.Security == config.SecurityImplicitTLS {
			ln = tls.NewListener(limiter.Wrap(ln, l.Name, ""), tlsConfig)
		} else {
			ln = limiter.Wrap(ln, l.Name, busyLine[l.Name])
		}
		r.names = append(r.names, l.Name)
		r.lns[i] = ln
		r.srvs = append(r.srvs, r.newServer(l.Name, tlsConfig))
	}
	for i, ln := range r.lns {
		name, srv := r.names[i], r.srvs[i]
		l := listeners[i]
		logger.Info("listening", "service", name, "addr", ln.Addr().String(), "security", l.Security)
		r.served.Add(1)
		go func() {
			defer r.served.Done()
			if err := srv.Serve(ln); err != nil && !isClosedErr(err) {
				logger.Error("listener stopped", "service", name, "err", err)
			}
		}()
	}
	r.queue.Start()
	logger.Info("mailsuite ready", "hostname", cfg.Hostname, "domains", cfg.Domains, "data_dir", cfg.DataDir)
	ok = true
	return r, nil
}

// busyLine is what a client over a connection cap reads before the close.
var busyLine = map[string]string{
	"smtp":       "421 4.7.0 Too many connections, try again later",
	"submission": "421 4.7.0 Too many connections, try again later",
	"imap":       "* BYE [UNAVAILABLE] Too many connections, try again later",
	"pop3":       "-ERR [SYS/TEMP] Too many connections, try again later",
}

// newServer makes the protocol server for one [listen] key.
func (r *running) newServer(name string, tlsConfig *tls.Config) server {
	cfg := r.cfg
	log := r.log.With("listener", name)
	var debug io.Writer
	if cfg.Log.DebugProtocol {
		debug = os.Stderr
	}
	switch name {
	case "smtp", "submission", "submissions":
		mode := smtpd.Submission
		if name == "smtp" {
			mode = smtpd.Inbound
		}
		return smtpd.New(smtpd.Options{
			Mode:           mode,
			Hostname:       cfg.Hostname,
			Store:          r.store,
			Users:          r.auth,
			TLSConfig:      tlsConfig,
			AllowPlaintext: cfg.Auth.AllowPlaintext,
			MaxMessageSize: cfg.Limits.MaxMessageSize,
			MaxRecipients:  cfg.Limits.MaxRecipients,
			MaxLineLength:  cfg.Limits.MaxLineLength,
			ReadTimeout:    cfg.Timeouts.SMTP.Duration,
			WriteTimeout:   cfg.Timeouts.SMTP.Duration,
			MaxConnections: cfg.Limits.MaxConnections,
			// Also capped across all listeners by internal/connlimit.
			MaxConnectionsPerIP: cfg.Limits.MaxConnectionsPerIP,
			AuthDelay:           0, // r.auth delays failures, across connections
			Outbound:            r.queue,
			CopyToSent:          cfg.Outbound.CopyToSent,
			Logger:              log,
		})
	case "imap", "imaps":
		return imapd.New(imapd.Options{
			Hostname:       cfg.Hostname,
			Store:          r.store,
			Users:          r.auth,
			TLSConfig:      tlsConfig,
			AllowPlaintext: cfg.Auth.AllowPlaintext,
			IdleTimeout:    cfg.Timeouts.IMAPIdle.Duration,
			AppendLimit:    cfg.Limits.MaxMessageSize,
			MaxConnsPerIP:  cfg.Limits.MaxConnectionsPerIP,
			AuthDelay:      0, // r.auth delays failures, across connections
			Logger:         log,
			DebugWriter:    debug,
		})
	case "pop3", "pop3s":
		return pop3d.New(pop3d.Options{
			Hostname:       cfg.Hostname,
			Store:          r.store,
			Users:          r.auth,
			TLSConfig:      tlsConfig,
			AllowPlaintext: cfg.Auth.AllowPlaintext,
			Timeout:        cfg.Timeouts.POP3.Duration,
			AuthDelay:      0, // r.auth delays failures, across connections
			Logger:         log,
		})
	}
	panic("serve: unknown listener " + name) // config.Listeners names only the above
}

// reload re-reads the config file, the user database and the certificate.
// What can change without a restart changes; the rest is named in a warning.
// A part that fails keeps its old state, and the last line says so.
func (r *running) reload(cfgSource string) {
	r.log.Info("reloading", "signal", "SIGHUP")
	failed := []string{}
	if cfgSource != "" {
		cfg, err := config.Load(cfgSource)
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			r.log.Error("config reload failed; keeping the running config", "file", cfgSource, "err", err)
			failed = append(failed, "config")
		} else {
			r.users.SetDomains(cfg.Domains)
			if changed := restartOnly(r.cfg, cfg); len(changed) > 0 {
				r.log.Warn("config changes that need a restart to take effect", "keys", changed)
			}
			r.cfg.Domains = cfg.Domains
		}
	}
	if err := r.users.Reload(); err != nil {
		r.log.Error("user database reload failed; keeping the old one", "err", err)
		failed = append(failed, "users")
	}
	if err := r.cert.Reload(); err != nil {
		r.log.Error("certificate reload failed; keeping the old one", "err", err)
		failed = append(failed, "tls")
	}
	if err := r.queue.ReloadKeys(); err != nil {
		r.log.Error("DKIM key reload failed; keeping the old keys", "err", err)
		failed = append(failed, "dkim")
	}
	if len(failed) > 0 {
		r.log.Warn("reload incomplete; the server runs on, with the old state of what failed", "failed", failed)
		return
	}
	r.log.Info("reloaded", "domains", r.cfg.Domains)
}

// restartOnly names the settings that differ between old and new and that
// a running server cannot take over.
func restartOnly(old, new *config.Config) []string {
	var keys []string
	if !slices.Equal(old.Listeners(), new.Listeners()) {
		keys = append(keys, "listen")
	}
	if old.DataDir != new.DataDir {
		keys = append(keys, "data_dir")
	}
	if old.Hostname != new.Hostname {
		keys = append(keys, "hostname")
	}
	if old.TLS != new.TLS {
		keys = append(keys, "tls")
	}
	if !old.Auth.Equal(new.Auth) {
		keys = append(keys, "auth")
	}
	if old.Limits != new.Limits {
		keys = append(keys, "limits")
	}
	if old.Timeouts != new.Timeouts {
		keys = append(keys, "timeouts")
	}
	if old.Server != new.Server {
		keys = append(keys, "server")
	}
	if old.RecipientDelimiter != new.RecipientDelimiter {
		keys = append(keys, "recipient_delimiter")
	}
	if !old.Outbound.Equal(new.Outbound) {
		keys = append(keys, "outbound")
	}
	return keys
}

// shutdown stops accepting, gives sessions the grace period, then cuts them.
func (r *running) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	for i, srv := range r.srvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(ctx); err != nil {
				r.log.Warn("sessions cut at shutdown", "service", r.names[i], "err", err)
				srv.Close()
			}
		}()
	}
	wg.Wait()
	r.served.Wait()
	// Deliveries in progress finish within what is left of the grace
	// period; one cut short is tried again after the next start.
	if err := r.queue.Shutdown(ctx); err != nil {
		r.log.Warn("outbound deliveries cut at shutdown; they will be retried", "err", err)
	}
	r.closeAll()
	r.log.Info("stopped")
	return nil
}

// closeAll releases what start opened, in reverse order.
func (r *running) closeAll() {
	if r.stopWatch != nil {
		r.stopWatch()
	}
	for i, ln := range r.lns {
		ln.Close()
		if i < len(r.srvs) {
			r.srvs[i].Close()
		}
	}
	if r.queue != nil {
		r.queue.Close()
	}
	if r.store != nil {
		r.store.Close()
	}
	if r.lock != nil {
		r.lock.Close()
	}
}

// lockDataDir takes an exclusive lock so that two servers never share a
// data directory (two index writers would corrupt UIDs).
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "serve.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data_dir %s is not writable: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data_dir %s is in use by another mailsuite serve (lock %s): stop it first", dir, path)
	}
	return f, nil
}

// isClosedErr reports the errors Serve returns after a Shutdown or Close.
func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, smtpd.ErrServerClosed) ||
		errors.Is(err, imapd.ErrServerClosed) || errors.Is(err, pop3d.ErrServerClosed)
}
