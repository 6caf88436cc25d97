package users

import (
	"maps"
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
