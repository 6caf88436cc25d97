package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Validate creates nothing: not data_dir, not its parents, no probe file.
func TestValidateCreatesNothing(t *testing.T) {
	base := t.TempDir()
	for _, dataDir := range []string{
		filepath.Join(base, "data"),
		filepath.Join(base, "a", "b", "data"),
		base, // exists already
	} {
		c := validConfig(t)
		c.DataDir = dataDir
		if err := c.Validate(); err != nil {
			t.Errorf("Validate with data_dir %s: %v", dataDir, err)
		}
		if got := tree(t, base); len(got) != 0 {
			t.Errorf("Validate with data_dir %s left %q", dataDir, got)
		}
	}
	// A relative data_dir is relative to the working directory.
	t.Chdir(base)
	c := validConfig(t)
	c.DataDir = "./data"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate with data_dir ./data: %v", err)
	}
	if got := tree(t, base); len(got) != 0 {
		t.Errorf("Validate with data_dir ./data left %q", got)
	}
}

// A data_dir that could not be created or written is reported, whether it
// exists or not, and still nothing is created. The checks run as an
// unprivileged user (see asUnprivileged), since permission bits do not
// stop root.
func TestValidateDataDirNotWritable(t *testing.T) {
	base, err := os.MkdirTemp("", "datadir-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755) // so that RemoveAll can empty it as a user
			}
			return nil
		})
		os.RemoveAll(base)
	})
	ro := filepath.Join(base, "ro")
	rw := filepath.Join(base, "rw")
	for dir, mode := range map[string]os.FileMode{base: 0o755, ro: 0o555, rw: 0o777} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		dataDir string
		want    []string
	}{
		{ro, []string{`data_dir: cannot write in "` + ro + `": permission denied`}},
		{filepath.Join(ro, "x", "data"), []string{`data_dir: cannot create "` + filepath.Join(ro, "x", "data") + `": cannot write in "` + ro + `": permission denied`}},
		{filepath.Join(rw, "x", "data"), nil},
		{rw, nil},
	}
	asUnprivileged(t, func() {
		for _, tt := range tests {
			c := validConfig(t)
			c.DataDir = tt.dataDir
			var got []string
			if err := c.Validate(); err != nil {
				e, ok := err.(*Error)
				if !ok {
					t.Errorf("data_dir %s: %T %v", tt.dataDir, err, err)
					continue
				}
				got = lines(e)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("data_dir %s: problems\n%s\nwant\n%s", tt.dataDir, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		}
	})
	if got := tree(t, base); !slices.Equal(got, []string{"ro", "rw"}) {
		t.Errorf("Validate created files: %q", got)
	}
}

// tree lists every path below root, relative to it.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
