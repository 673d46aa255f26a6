package launcher

import (
	_ "embed"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
)

// MaxRequestBody bounds POST /api/launches bodies.
const MaxRequestBody = 64 << 10

//go:embed openapi.json
var openAPI []byte

// Mount registers the launch API:
//
//	POST /api/launches        mint (201 Result, 400/413/415 errors)
//	GET  /api/launches/{id}   the launch minted as id, secret removed (200 Details, 404, 410)
//	GET  /api/openapi.json    OpenAPI 3.1 description of /api/launches and /api/clients
func (s *Service) Mount(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/launches", s.handleMint)
	mux.HandleFunc("GET /api/launches/{id}", s.handleGet)
	mux.HandleFunc("GET /api/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(openAPI)
	})
}

// APIError is the JSON error body of the launch API.
type APIError struct {
	Error       string `json:"error"`
	Field       string `json:"field,omitempty"`
	Description string `json:"error_description"`
}

// Details is the body of GET /api/launches/{id}: the URLs Mint returned and
// the decoded launch with its client secret removed.
type Details struct {
	Result
	Launch          *Launch `json:"details"`
	ClientSecretSet bool    `json:"client_secret_set"` // the launch holds a secret (never shown)
	Used            bool    `json:"used"`              // launch_once and already consumed
}

func (s *Service) handleMint(w http.ResponseWriter, r *http.Request) {
	req, apiErr, status := decodeRequest(w, r)
	if apiErr != nil {
		writeJSON(w, status, apiErr)
		return
	}
	res, _, err := s.Mint(r.Context(), *req)
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, &APIError{Error: "invalid_request", Field: fe.Field, Description: fe.Message})
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/launches/"+res.ID)
	writeJSON(w, http.StatusCreated, res)
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	l, err := s.Lookup(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, ErrUnknownLaunch):
		writeJSON(w, http.StatusNotFound, &APIError{Error: "not_found", Description: "no launch with this id, launch code or scenario"})
		return
	case errors.Is(err, ErrExpiredLaunch):
		writeJSON(w, http.StatusGone, &APIError{Error: "expired", Description: "the launch expired at " + l.ExpiresAt.Format("2006-01-02T15:04:05Z07:00")})
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	used, err := s.Used(r.Context(), l)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.details(l, used))
}

// details builds the GET body; the copy shown never holds the secret.
func (s *Service) details(l *Launch, used bool) *Details {
	shown := *l
	shown.Client.ClientSecret = ""
	return &Details{Result: *s.result(l), Launch: &shown, ClientSecretSet: l.Client.ClientSecret != "", Used: used}
}

func (s *Service) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "launch API", "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, &APIError{Error: "server_error", Description: "internal error; see the server log"})
}

// decodeRequest enforces media type, size, JSON shape and known fields.
func decodeRequest(w http.ResponseWriter, r *http.Request) (*Request, *APIError, int) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, &APIError{Error: "unsupported_media_type", Description: "send the launch as Content-Type: application/json"}, http.StatusUnsupportedMediaType
	}
	body, err := readBody(w, r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &APIError{Error: "request_too_large", Description: "the body is larger than 64 KiB"}, http.StatusRequestEntityTooLarge
		}
		return nil, &APIError{Error: "invalid_request", Description: "reading the body: " + err.Error()}, http.StatusBadRequest
	}
	req, fe := parseRequest(body)
	if fe != nil {
		return nil, &APIError{Error: "invalid_request", Field: fe.Field, Description: fe.Message}, http.StatusBadRequest
	}
	return req, nil, 0
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store") // launch codes are bearer-like
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
