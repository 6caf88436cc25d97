package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// runDisk measures the ceiling the disk sets on durable Maildir delivery:
// the qmail pattern every durable delivery follows (create in tmp/, write,
// fsync, close, rename into new/, fsync new/), -n times with -size bytes,
// for each writer count in -disk-writers. No server is involved; SMTP
// delivery rates can then be read as a fraction of what the disk allows.
// The scratch directory is removed afterwards.
func runDisk(ctx context.Context, o *options, r *reporter) error {
	if o.diskDir == "" {
		return errors.New("disk needs -disk-dir")
	}
	counts, _ := o.writerCounts()
	scratch, err := os.MkdirTemp(o.diskDir, "mailbench-disk-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	data := make([]byte, o.size)
	for i := range data {
		data[i] = 'a' + byte(i%26)
		if i%78 == 77 {
			data[i] = '\n'
		}
	}
	for _, w := range counts {
		dir := filepath.Join(scratch, fmt.Sprintf("w%d", w))
		for _, sub := range []string{"tmp", "new"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
				return err
			}
		}
		done, elapsed, err := diskRun(ctx, dir, w, o.n, data)
		if err != nil {
			return err
		}
		r.rate(fmt.Sprintf("w%d_msgs_per_s", w), float64(done), elapsed, "msg/s")
		r.mbps(fmt.Sprintf("w%d_mb_per_s", w), int64(done)*int64(len(data)), elapsed)
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	return nil
}

// diskRun runs n deliveries with w writers into dir.
func diskRun(ctx context.Context, dir string, w, n int, data []byte) (int, time.Duration, error) {
	newDir, err := os.Open(filepath.Join(dir, "new"))
	if err != nil {
		return 0, 0, err
	}
	defer newDir.Close()
	var next, done atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for k := 0; k < w; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if err := deliverFile(dir, newDir, fmt.Sprintf("%d.%d.mailbench", start.UnixNano(), i), data); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return 0, 0, firstErr
	}
	return int(done.Load()), elapsed, ctx.Err()
}

// deliverFile is one durable Maildir delivery.
func deliverFile(dir string, newDir *os.File, name string, data []byte) error {
	tmp := filepath.Join(dir, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
		return err
	}
	return newDir.Sync()
}
