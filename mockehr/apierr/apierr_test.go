package apierr

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWrite(t *testing.T) {
	for _, c := range []struct {
		name string
		do   func(w http.ResponseWriter)
		code int
		body string
	}{
		{"field", func(w http.ResponseWriter) {
			WriteField(w, Fieldf("client.redirect_uris", "item %d: %q is not absolute", 0, "/cb"))
		},
			400, `{"error":"invalid_request","field":"client.redirect_uris","error_description":"item 0: \"/cb\" is not absolute"}`},
		{"no field", func(w http.ResponseWriter) { Write(w, http.StatusNotFound, NotFound, "", "no launch with this id") },
			404, `{"error":"not_found","error_description":"no launch with this id"}`},
		{"conflict", func(w http.ResponseWriter) {
			Write(w, http.StatusConflict, Conflict, "client_id", `a client with id "x" already exists`)
		},
			409, `{"error":"conflict","field":"client_id","error_description":"a client with id \"x\" already exists"}`},
		{"server error", WriteServerError,
			500, `{"error":"server_error","error_description":"internal error; see the server log"}`},
		{"json, HTML not escaped", func(w http.ResponseWriter) {
			WriteJSON(w, http.StatusCreated, map[string]string{"launch_url": "https://a.example/?a=1&b=<2>"})
		},
			201, `{"launch_url":"https://a.example/?a=1&b=<2>"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			c.do(rec)
			if rec.Code != c.code || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != c.body+"\n" {
				t.Errorf("got %d %q %s\nwant %d application/json %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body, c.code, c.body)
			}
		})
	}
}

func TestFieldError(t *testing.T) {
	var err error = fmt.Errorf("mint: %w", Fieldf("patient", "unknown patient id %q", "x"))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "patient" || fe.Message != `unknown patient id "x"` {
		t.Fatalf("errors.As: %v", fe)
	}
	if fe.Error() != `patient: unknown patient id "x"` {
		t.Fatalf("Error() = %q", fe.Error())
	}
}
