package mailbox

import "time"

// watch polls, every interval, the new/ and cur/ mtimes of folders that
// have open handles, so that changes other programs make reach sessions
// in IDLE (their handles are notified by the scan). It is a poll rather
// than inotify: it costs two stats per open folder per interval, works on
// every file system, and needs no file descriptors per folder.
func (m *Maildir) watch(interval time.Duration) {
	defer close(m.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		m.mu.Lock()
		users := make([]*userState, 0, len(m.users))
		for _, u := range m.users {
			users = append(users, u)
		}
		m.mu.Unlock()
		for _, u := range users {
			u.mu.Lock()
			for _, f := range u.folders {
				if len(f.handles) == 0 || f.gone {
					continue
				}
				if err := f.syncLocked(); err != nil {
					m.log.Warn("watch: folder check failed", "user", u.name, "folder", f.name.canon, "err", err)
				}
			}
			u.mu.Unlock()
		}
	}
}
