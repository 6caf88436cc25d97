package main

// The crash harness's look at the store on disk, past the server: every
// message file in new/ and cur/ whole and intact, and each folder's UID
// index (mailbox/uidlist.go's format) consistent with the files.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// diskFolder is one folder as found on disk.
type diskFolder struct {
	name  string            // "user/Folder"
	dir   string            // its Maildir
	files map[string]string // "new/NAME" or "cur/NAME" -> message id
	tmp   int               // files left in tmp/
}

// crashFolderName is the model's name of a folder: user and folder.
func crashFolderName(user, folder string) string { return user + "/" + folder }

// scanDisk reads every message file of every folder of the users and
// checks each: its S= and W= sizes match its content, it holds a message
// of the model, byte for byte. A partial file fails the first two checks.
func scanDisk(dataDir string, users []string, m *crashModel) (map[string][]found, []*diskFolder, []string) {
	seen := map[string][]found{}
	var folders []*diskFolder
	var errs []string
	for _, user := range users {
		local, domain, _ := strings.Cut(user, "@")
		root := filepath.Join(dataDir, "mail", domain, local)
		dirs := map[string]string{"INBOX": root}
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), ".") {
				if _, err := os.Stat(filepath.Join(root, e.Name(), "cur")); err == nil {
					dirs[strings.TrimPrefix(e.Name(), ".")] = filepath.Join(root, e.Name())
				}
			}
		}
		for name, dir := range dirs {
			df := &diskFolder{name: crashFolderName(user, name), dir: dir, files: map[string]string{}}
			folders = append(folders, df)
			tmp, _ := os.ReadDir(filepath.Join(dir, "tmp"))
			df.tmp = len(tmp)
			for _, sub := range []string{"new", "cur"} {
				ents, err := os.ReadDir(filepath.Join(dir, sub))
				if err != nil && !os.IsNotExist(err) {
					errs = append(errs, err.Error())
				}
				for _, e := range ents {
					rel := sub + "/" + e.Name()
					id, problem := checkFile(filepath.Join(dir, sub, e.Name()), m)
					if problem != "" {
						errs = append(errs, fmt.Sprintf("%s %s: %s", df.name, rel, problem))
						continue
					}
					df.files[rel] = id
					seen[id] = append(seen[id], found{folder: df.name, flags: fileFlags(e.Name()), where: df.name + " " + rel})
				}
			}
		}
	}
	return seen, folders, errs
}

// checkFile checks one message file and returns the id it holds.
func checkFile(path string, m *crashModel) (string, string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err.Error()
	}
	name := filepath.Base(path)
	disk, crlf, ok := nameSizes(name)
	if !ok {
		return "", "no S= and W= sizes in the name"
	}
	stored := bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
	if int64(len(data)) != disk || int64(len(stored)) != crlf {
		return "", fmt.Sprintf("partial or grown file: %d octets (%d with CRLF), the name says S=%d W=%d", len(data), len(stored), disk, crlf)
	}
	id, ok := crashID(stored)
	if !ok {
		return "", "no X-Crash-Id field"
	}
	m.mu.Lock()
	s := m.msgs[id]
	m.mu.Unlock()
	if s == nil {
		return id, "" // reported by checkPresence
	}
	if p := crashCheckBytes(stored, id, s.viaSMTP); p != "" {
		return "", id + ": " + p
	}
	return id, ""
}

// nameSizes reads S= and W= from a file name.
func nameSizes(name string) (disk, crlf int64, ok bool) {
	key, _, _ := strings.Cut(name, ":")
	var gotS, gotW bool
	for _, f := range strings.Split(key, ",")[1:] {
		v, err := strconv.ParseInt(f[min(2, len(f)):], 10, 64)
		switch {
		case err != nil:
		case strings.HasPrefix(f, "S="):
			disk, gotS = v, true
		case strings.HasPrefix(f, "W="):
			crlf, gotW = v, true
		}
	}
	return disk, crlf, gotS && gotW
}

// fileFlags gives the IMAP system flags a file name carries (:2,FLAGS).
func fileFlags(name string) []string {
	_, info, _ := strings.Cut(name, ":")
	letters, ok := strings.CutPrefix(info, "2,")
	if !ok {
		return nil
	}
	var out []string
	for _, c := range letters {
		switch c {
		case 'F':
			out = append(out, `\Flagged`)
		case 'S':
			out = append(out, `\Seen`)
		case 'T':
			out = append(out, `\Deleted`)
		}
	}
	return out
}

// indexView is a folder's UID index as this harness reads it.
type indexView struct {
	uidValidity uint32
	uidNext     uint32            // as the loader computes it
	live        map[uint32]string // uid -> "new/NAME" or "cur/NAME"
}

// readIndex parses dir/mailsuite-uidlist: the header, then A (add or
// replace) and X (expunge) lines in order; lines of other kinds are
// skipped. A line that does not parse, or a torn last line, is an error:
// the server rewrites a damaged index when it loads it.
func readIndex(dir string) (*indexView, error) {
	f, err := os.Open(filepath.Join(dir, "mailsuite-uidlist"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	v := &indexView{live: map[uint32]string{}}
	br := bufio.NewReaderSize(f, 1<<20)
	var maxUID uint32
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if err != nil {
			if line != "" {
				return nil, fmt.Errorf("line %d is torn (no newline): %q", n, line)
			}
			break
		}
		fs := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 10)
		bad := func() error { return fmt.Errorf("line %d does not parse: %q", n, line) }
		if n == 1 {
			if len(fs) != 5 || fs[0] != "mailsuite-uidlist" {
				return nil, bad()
			}
			uv, err1 := strconv.ParseUint(fs[2], 10, 32)
			next, err2 := strconv.ParseUint(fs[3], 10, 32)
			if err1 != nil || err2 != nil {
				return nil, bad()
			}
			v.uidValidity, v.uidNext = uint32(uv), uint32(next)
			continue
		}
		switch fs[0] {
		case "A":
			if len(fs) != 10 {
				return nil, bad()
			}
			uid, err := strconv.ParseUint(fs[1], 10, 32)
			if err != nil || (fs[3] != "n" && fs[3] != "c") {
				return nil, bad()
			}
			loc := "new/"
			if fs[3] == "c" {
				loc = "cur/"
			}
			v.live[uint32(uid)] = loc + fs[9]
			maxUID = max(maxUID, uint32(uid))
		case "X":
			uid, err := strconv.ParseUint(fs[1], 10, 32)
			if err != nil {
				return nil, bad()
			}
			delete(v.live, uint32(uid))
			maxUID = max(maxUID, uint32(uid))
		}
	}
	v.uidNext = max(v.uidNext, maxUID+1)
	return v, nil
}

// checkIndex compares a folder's index with its files and with what IMAP
// reported (UIDVALIDITY, UIDNEXT and UID -> message id).
func checkIndex(df *diskFolder, uidValidity, uidNext uint32, imapUIDs map[uint32]string) []string {
	idx, err := readIndex(df.dir)
	if err != nil {
		return []string{fmt.Sprintf("%s: index: %v", df.name, err)}
	}
	var errs []string
	add := func(format string, args ...any) {
		errs = append(errs, df.name+": index: "+fmt.Sprintf(format, args...))
	}
	if idx.uidValidity != uidValidity {
		add("UIDVALIDITY %d, IMAP says %d", idx.uidValidity, uidValidity)
	}
	if uidNext < idx.uidNext {
		add("UIDNEXT %d is below the index's %d", uidNext, idx.uidNext)
	}
	named := map[string]uint32{}
	for uid, file := range idx.live {
		if _, ok := df.files[file]; !ok {
			add("UID %d names %s, which is not there", uid, file)
		}
		if other, ok := named[file]; ok {
			add("UIDs %d and %d both name %s", other, uid, file)
		}
		named[file] = uid
		if id, ok := imapUIDs[uid]; !ok {
			add("UID %d (%s) is not listed over IMAP", uid, file)
		} else if id != df.files[file] {
			add("UID %d is %s over IMAP but %s on disk", uid, id, df.files[file])
		}
	}
	for file := range df.files {
		if _, ok := named[file]; !ok {
			add("%s has no UID", file)
		}
	}
	for uid := range imapUIDs {
		if _, ok := idx.live[uid]; !ok {
			add("UID %d is listed over IMAP but not in the index", uid)
		}
	}
	return errs
}
