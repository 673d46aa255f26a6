package upstream

import (
	"bytes"
	"strings"
	"testing"
)

// The streaming rewriter gives the same bytes as a whole-body replace, for
// every way of cutting the stream into writes.
func TestRewriterAcrossWriteBoundaries(t *testing.T) {
	old, new := "http://up:1/fhir", "http://ehrsim/sim/abc/fhir"
	in := `{"link":[{"url":"http://up:1/fhir/Observation?x=1"}],"fullUrl":"http://up:1/fhir/Patient/1","a":"http://up:1/fhi","b":"http://up:1/fhirhttp://up:1/fhir"}` + "http://up:1/f"
	want := strings.ReplaceAll(in, old, new)
	for size := 1; size <= len(in); size++ {
		var out bytes.Buffer
		rw := newRewriter(&out, []byte(old), []byte(new))
		for i := 0; i < len(in); i += size {
			if _, err := rw.Write([]byte(in[i:min(i+size, len(in))])); err != nil {
				t.Fatal(err)
			}
		}
		if err := rw.Flush(); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Fatalf("writes of %d bytes:\n got %s\nwant %s", size, out.String(), want)
		}
	}
}

func FuzzRewriter(f *testing.F) {
	f.Add("http://up:1/fhir/Patient/1 http://up:1/fh", 3)
	f.Fuzz(func(t *testing.T, in string, size int) {
		if size < 1 || size > 64 {
			return
		}
		old, new := "http://up:1/fhir", "X"
		var out bytes.Buffer
		rw := newRewriter(&out, []byte(old), []byte(new))
		for i := 0; i < len(in); i += size {
			rw.Write([]byte(in[i:min(i+size, len(in))]))
		}
		rw.Flush()
		if want := strings.ReplaceAll(in, old, new); out.String() != want {
			t.Fatalf("got %q, want %q", out.String(), want)
		}
	})
}

func TestRewriteEscapedSlashes(t *testing.T) {
	p := &Proxy{base: "http://up:1/fhir"}
	got := string(p.rewrite([]byte(`{"a":"http:\/\/up:1\/fhir\/Patient\/1","b":"http://up:1/fhir/X"}`), "http://e/fhir"))
	if got != `{"a":"http:\/\/e\/fhir\/Patient\/1","b":"http://e/fhir/X"}` {
		t.Errorf("rewrite = %s", got)
	}
}
