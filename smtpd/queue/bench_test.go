package queue

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkQueueThroughput queues 2,000 messages (durably: each Submit
// fsyncs before it returns) from 8 submitters while the queue delivers
// them to a loopback remote, and reports messages per second from the
// first Submit to the last delivery recorded; "submit-msgs/s" is the rate
// at which Submit returned. With dkim, each message is signed with an
// Ed25519 and an RSA-2048 key.
//
//	go test ./smtpd/queue -run XXX -bench QueueThroughput -benchtime 3x
func BenchmarkQueueThroughput(b *testing.B) {
	for _, signed := range []bool{false, true} {
		name := "plain"
		if signed {
			name = "dkim"
		}
		b.Run(name, func(b *testing.B) { benchQueue(b, 2000, 8, signed) })
	}
}

func benchQueue(b *testing.B, n, submitters int, signed bool) {
	var total, submitTotal time.Duration
	for range b.N {
		b.StopTimer()
		w := newWorld(b)
		w.opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		r := newRemote(b, remoteOpts{})
		w.to("b.test", r)
		if signed {
			dir := filepath.Join(w.dir, "dkim")
			if _, err := Keygen(dir, "a.test", time.Now()); err != nil {
				b.Fatal(err)
			}
			w.opts.DKIMDir = dir
		}
		q := w.open(true)
		body := "From: alice@a.test\r\nTo: bob@b.test\r\nSubject: bench\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 60)
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for s := range submitters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := s; i < n; i += submitters {
					_, err := q.Submit(context.Background(), Message{From: "alice@a.test", User: "alice@a.test",
						Rcpts: []string{fmt.Sprintf("user%d@b.test", i%50)}, SignDomain: "a.test"}, strings.NewReader(body), nil)
					if err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		submitTotal += time.Since(start)
		for q.Len() > 0 {
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
		b.StopTimer()
		if got := len(r.received()); got != n {
			b.Fatalf("remote got %d, want %d", got, n)
		}
		q.Close()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "msgs/s")
	b.ReportMetric(float64(n*b.N)/submitTotal.Seconds(), "submit-msgs/s")
	b.ReportMetric(0, "ns/op")
}
