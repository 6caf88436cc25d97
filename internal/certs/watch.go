package certs

import (
	"log/slog"
	"os"
	"syscall"
	"time"
)

// DefaultWatchInterval is how often Watch looks at the files: a renewed
// certificate is served within a few seconds without a SIGHUP.
const DefaultWatchInterval = 5 * time.Second

// fileState identifies a file's content cheaply: what stat(2) says of the
// file a path leads to (symbolic links followed, as certbot's live/ links
// are). Replacing, rewriting or re-pointing the file changes it.
type fileState struct {
	ok    bool
	size  int64
	mtime int64 // ns
	dev   uint64
	ino   uint64
}

// pairState is the state of the certificate file and the key file.
type pairState struct{ cert, key fileState }

func statFile(path string) fileState {
	fi, err := os.Stat(path)
	if err != nil {
		return fileState{}
	}
	st := fileState{ok: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.dev, st.ino = uint64(sys.Dev), sys.Ino
	}
	return st
}

func statPair(certFile, keyFile string) pairState {
	return pairState{statFile(certFile), statFile(keyFile)}
}

// Watch polls the certificate and key files every interval (zero:
// DefaultWatchInterval) and reloads them when either has changed since it
// was last loaded (by Watch, Reload or New). A pair that does not load (a
// renewal half done, the key not yet replaced) keeps the old certificate
// in use; it is tried again when the files change again, and logged once
// per state. A self-signed certificate is also renewed when it is a day
// from expiry. Call the returned function to stop watching; it waits for
// the watcher to end.
func (h *Holder) Watch(interval time.Duration, log *slog.Logger) (stop func()) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		var failed *pairState
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			failed = h.check(log, failed, time.Now())
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// check is one look at the files; failed is the state that last failed
// to load, returned updated.
func (h *Holder) check(log *slog.Logger, failed *pairState, now time.Time) *pairState {
	certFile, keyFile := h.Paths()
	cur := statPair(certFile, keyFile)
	changed := h.loaded.Load() == nil || *h.loaded.Load() != cur
	expiring := false
	if c := h.cert.Load(); h.SelfSigned && c != nil && c.Leaf != nil {
		expiring = now.Add(24 * time.Hour).After(c.Leaf.NotAfter)
	}
	if (!changed || (failed != nil && *failed == cur)) && !expiring {
		return failed
	}
	if err := h.Reload(); err != nil {
		if failed == nil || *failed != cur {
			log.Error("certificate files changed but do not load; keeping the old certificate", "cert_file", certFile, "key_file", keyFile, "err", err)
		}
		return &cur
	}
	leaf := h.cert.Load().Leaf
	attrs := []any{"cert_file", certFile}
	if leaf != nil {
		attrs = append(attrs, "subject", leaf.Subject.CommonName, "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	log.Info("certificate reloaded: the files changed", attrs...)
	return nil
}
