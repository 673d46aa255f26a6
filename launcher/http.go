package launcher

import (
	_ "embed"
	"errors"
	"mime"
	"net/http"

	"github.com/ehrsim/ehrsim/mockehr/apierr"
	"github.com/ehrsim/ehrsim/mockehr/smart"
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
//
// Errors are apierr's one shape. Answers are never cached: they hold
// launch codes, which are bearer-like.
func (s *Service) Mount(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/launches", noStore(s.handleMint))
	mux.HandleFunc("GET /api/launches/{id}", noStore(s.handleGet))
	mux.HandleFunc("GET /api/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(openAPI)
	})
}

func noStore(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h(w, r)
	}
}

// APIError is the JSON error body of the launch API: apierr.Body, the one
// shape of every /api/* error.
type APIError = apierr.Body

// Details is the body of GET /api/launches/{id}: the URLs Mint returned and
// the decoded launch with its client secret removed.
type Details struct {
	Result
	Launch          *Launch `json:"details"`
	ClientSecretSet bool    `json:"client_secret_set"` // the launch holds a secret (never shown)
	Used            bool    `json:"used"`              // launch_once and already consumed
}

func (s *Service) handleMint(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeRequest(w, r)
	if !ok {
		return
	}
	res, _, err := s.Mint(r.Context(), *req)
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		apierr.WriteField(w, fe)
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/launches/"+res.ID)
	apierr.WriteJSON(w, http.StatusCreated, res)
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	l, err := s.Lookup(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, ErrUnknownLaunch):
		apierr.Write(w, http.StatusNotFound, apierr.NotFound, "", "no launch with this id, launch code or scenario")
		return
	case errors.Is(err, ErrExpiredLaunch):
		apierr.Write(w, http.StatusGone, apierr.Expired, "", "the launch expired at "+l.ExpiresAt.Format("2006-01-02T15:04:05Z07:00"))
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
	apierr.WriteJSON(w, http.StatusOK, s.details(l, used))
}

// details builds the GET body; the copy shown never holds the secret.
func (s *Service) details(l *Launch, used bool) *Details {
	shown := *l
	shown.Client.ClientSecret = ""
	return &Details{Result: *s.result(l), Launch: &shown, ClientSecretSet: l.Client.ClientSecret != "", Used: used}
}

func (s *Service) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "launch API", "path", r.URL.Path, "err", err)
	if errors.Is(err, smart.ErrUnavailable) {
		w.Header().Set("Retry-After", "5")
		apierr.Write(w, http.StatusServiceUnavailable, apierr.Unavailable, "", err.Error())
		return
	}
	apierr.WriteServerError(w)
}

// decodeRequest enforces media type, size, JSON shape and known fields; on
// failure it has answered 415, 413 or 400.
func decodeRequest(w http.ResponseWriter, r *http.Request) (*Request, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		apierr.Write(w, http.StatusUnsupportedMediaType, apierr.UnsupportedMediaType, "", "send the launch as Content-Type: application/json")
		return nil, false
	}
	body, err := readBody(w, r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			apierr.Write(w, http.StatusRequestEntityTooLarge, apierr.RequestTooLarge, "", "the body is larger than 64 KiB")
		} else {
			apierr.Write(w, http.StatusBadRequest, apierr.InvalidRequest, "", "reading the body: "+err.Error())
		}
		return nil, false
	}
	req, fe := parseRequest(body)
	if fe != nil {
		apierr.WriteField(w, fe)
		return nil, false
	}
	return req, true
}
