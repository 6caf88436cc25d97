package users

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	h := hashPassword("pw", fastParams)
	d := emptyDB()
	d.users["a&b@example.org"] = h
	d.users["c@example.net"] = h
	d.aliases["x@example.org"] = []string{"a&b@example.org", "Far@away.example"}
	data, err := encodeDB(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "version": 1,
  "users": {
    "a&b@example.org": {
      "password": "` + h + `"
    },
    "c@example.net": {
      "password": "` + h + `"
    }
  },
  "aliases": {
    "x@example.org": [
      "a&b@example.org",
      "Far@away.example"
    ]
  }
}
`
	if string(data) != want {
		t.Fatalf("encoded:\n%s\nwant:\n%s", data, want)
	}
	back, err := decodeDB(data)
	if err != nil {
		t.Fatal(err)
	}
	if !dbEqual(d, back) {
		t.Fatalf("round trip changed the data: %+v", back)
	}
}

func dbEqual(a, b *db) bool {
	return maps.Equal(a.users, b.users) && maps.EqualFunc(a.aliases, b.aliases, slices.Equal)
}

// FuzzDecodeDB: no panic on any file content, and what decodes survives an
// encode/decode round trip unchanged.
func FuzzDecodeDB(f *testing.F) {
	h := hashPassword("pw", fastParams)
	f.Add([]byte(`{"version": 1, "users": {}, "aliases": {}}`))
	f.Add([]byte(`{"version": 1, "users": {"Alice@Example.org": {"password": "` + h + `"}}, "aliases": {"a@example.org": ["alice@example.org", "x@y.z"]}}`))
	f.Add([]byte(`{"version": 1, "users": {"b@example.org": {"password": "$2b$04$abcdefghijklmnopqrstuuO0lS6Gd8B8BrJkYxVNp1ICC9o5/zn1W"}}}`))
	f.Add([]byte(``))
	f.Add([]byte(`{"version": 1} trailing`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeDB(data)
		if err != nil {
			return
		}
		enc, err := encodeDB(d)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeDB(enc)
		if err != nil {
			t.Fatalf("re-decoding our own output: %v\n%s", err, enc)
		}
		if !dbEqual(d, back) {
			t.Fatalf("round trip changed the data")
		}
	})
}

// NoCreate opens for looking only: nothing is created for a missing file,
// which reads as empty; an existing file reads as usual.
func TestOpenNoCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "users.db")
	f, err := OpenFile(path, FileOptions{Domains: []string{"example.org"}, NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("NoCreate made the directory: %v", err)
	}
	if list, err := f.ListUsers(); err != nil || len(list) != 0 {
		t.Errorf("ListUsers = %v, %v", list, err)
	}
	if _, err := f.Resolve("postmaster@example.org"); !errors.Is(err, ErrNoUser) {
		t.Errorf("Resolve = %v", err)
	}

	w := openAt(t, path)
	mustAddUser(t, w, "alice@example.org", "pw")
	f, err = OpenFile(path, FileOptions{Domains: []string{"example.org"}, NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.Resolve("alice@example.org"); err != nil || len(got) != 1 {
		t.Errorf("Resolve(alice) = %v, %v", got, err)
	}
}
