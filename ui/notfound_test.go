package ui

import (
	"strings"
	"testing"
)

// Unknown paths under /api/ answer the API's one error shape (apierr), not
// an HTML page.
func TestNotFoundUnderAPIIsTheAPIErrorShape(t *testing.T) {
	tu := newTestUI(t)
	status, hdr, body := tu.get(t, "/api/no-such-thing")
	if status != 404 || hdr.Get("Content-Type") != "application/json" ||
		strings.TrimSpace(body) != `{"error":"not_found","error_description":"no such API endpoint"}` {
		t.Fatalf("GET /api/no-such-thing: %d %s %s", status, hdr.Get("Content-Type"), body)
	}
	status, hdr, _ = tu.get(t, "/no-such-page")
	if status != 404 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /no-such-page: %d %s", status, hdr.Get("Content-Type"))
	}
}
