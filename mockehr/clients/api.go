package clients

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/apierr"
)

const maxBody = 1 << 20

// API serves the client management API and RFC 7591 dynamic registration:
//
//	GET    /api/clients          {"clients":[…]}
//	POST   /api/clients          201 client (+ client_secret once, when the server generated it)
//	GET    /api/clients/{id}     client | 404
//	PUT    /api/clients/{id}     client | 400 | 404 (replaces the definition; client_secret optional)
//	DELETE /api/clients/{id}     204 | 404
//	POST   /auth/register        RFC 7591 §3
//
// Secrets are never returned except in the create response that set them.
type API struct {
	Registry *Registry
	Logger   *slog.Logger // internal errors; nil = discarded
}

// Mount registers the routes on mux.
func (a *API) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/clients", a.list)
	mux.HandleFunc("POST /api/clients", a.create)
	mux.HandleFunc("GET /api/clients/{id}", a.get)
	mux.HandleFunc("PUT /api/clients/{id}", a.update)
	mux.HandleFunc("DELETE /api/clients/{id}", a.delete)
	mux.HandleFunc("POST /auth/register", a.register)
}

// clientView is a client as the API shows it: the stored definition plus
// derived OAuth metadata, and the secret only in a create response.
type clientView struct {
	Client
	GrantTypes              []string `json:"grant_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	ClientSecret            string   `json:"client_secret,omitempty"`
}

func view(c *Client) clientView {
	return clientView{Client: *c, GrantTypes: c.GrantTypes(), TokenEndpointAuthMethod: c.AuthMethod()}
}

// clientInput is a POST/PUT body: a client, an optional secret, and the
// read-only fields a GET returns (accepted and ignored, so GET → edit → PUT
// round-trips).
type clientInput struct {
	Client
	ClientSecret            *string         `json:"client_secret"`
	GrantTypes              json.RawMessage `json:"grant_types"`
	TokenEndpointAuthMethod json.RawMessage `json:"token_endpoint_auth_method"`
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	cs, err := a.Registry.List(r.Context())
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	out := make([]clientView, 0, len(cs))
	for i := range cs {
		out = append(out, view(&cs[i]))
	}
	apierr.WriteJSON(w, http.StatusOK, map[string]any{"clients": out})
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	c, err := a.Registry.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err, r.PathValue("id"))
		return
	}
	apierr.WriteJSON(w, http.StatusOK, view(c))
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	var in clientInput
	if !decode(w, r, &in, true) {
		return
	}
	secret, generated := "", false
	if in.ClientSecret != nil {
		secret = *in.ClientSecret
	} else if in.Type == TypeSymmetric {
		var err error
		if secret, err = newSecret(); err != nil {
			a.serverError(w, r, err)
			return
		}
		generated = true
	}
	c, err := a.Registry.Create(r.Context(), in.Client, secret)
	if err != nil {
		a.fail(w, r, err, in.ID)
		return
	}
	v := view(c)
	if generated {
		v.ClientSecret = secret // returned once, here; a secret the caller chose is not echoed
	}
	w.Header().Set("Location", "/api/clients/"+c.ID)
	w.Header().Set("Cache-Control", "no-store")
	apierr.WriteJSON(w, http.StatusCreated, v)
}

func (a *API) update(w http.ResponseWriter, r *http.Request) {
	var in clientInput
	if !decode(w, r, &in, true) {
		return
	}
	id := r.PathValue("id")
	if in.ID != "" && in.ID != id {
		apierr.WriteField(w, fieldErr("client_id", "%q in the body differs from %q in the URL; ids cannot be changed", in.ID, id))
		return
	}
	in.ID = id
	c, err := a.Registry.Update(r.Context(), in.Client, in.ClientSecret)
	if err != nil {
		a.fail(w, r, err, id)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, view(c))
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	if err := a.Registry.Delete(r.Context(), r.PathValue("id")); err != nil {
		a.fail(w, r, err, r.PathValue("id"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fail writes a registry error: 400 naming the field, 404, 409 or 500.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error, id string) {
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		apierr.WriteField(w, fe)
	case errors.Is(err, ErrNotFound):
		apierr.Write(w, http.StatusNotFound, apierr.NotFound, "", fmt.Sprintf("no client with id %q", id))
	case errors.Is(err, ErrExists):
		apierr.Write(w, http.StatusConflict, apierr.Conflict, "client_id", fmt.Sprintf("a client with id %q already exists", id))
	default:
		a.serverError(w, r, err)
	}
}

// decode reads a JSON body into v. strict refuses unknown fields (our own
// API); RFC 7591 requires ignoring them. On failure it has answered: for
// the API (strict) 415, 413 or 400 in apierr's shape; for registration 415
// or 400 with RFC 7591's invalid_client_metadata (registrationError).
func decode(w http.ResponseWriter, r *http.Request, v any, strict bool) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		const msg = "send a JSON body with Content-Type: application/json"
		if strict {
			apierr.Write(w, http.StatusUnsupportedMediaType, apierr.UnsupportedMediaType, "", msg)
		} else {
			registrationError(w, http.StatusUnsupportedMediaType, "invalid_client_metadata", "Content-Type", msg)
		}
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if strict {
		dec.DisallowUnknownFields()
	}
	err = dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON object")
	}
	if err == nil {
		return true
	}
	field, msg := "", err.Error() // "": the body as a whole
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &te):
		// Field is the Go path ("Client.redirect_uris" through the embedding); keep the JSON name.
		field, msg = strings.TrimPrefix(te.Field, "Client."), fmt.Sprintf("must be a JSON %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)
	case errors.As(err, &mbe):
		msg = fmt.Sprintf("the body is larger than %d bytes", maxBody)
		if strict {
			apierr.Write(w, http.StatusRequestEntityTooLarge, apierr.RequestTooLarge, "", msg)
			return false
		}
	case strings.HasPrefix(msg, "json: unknown field "):
		field = strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
		msg = "is not a known client field"
	default:
		msg = "is not valid JSON: " + strings.TrimPrefix(msg, "json: ")
	}
	if strict {
		if field == "" {
			msg = "the body " + msg
		}
		apierr.WriteField(w, &FieldError{Field: field, Message: msg})
	} else {
		if field == "" {
			field = "body"
		}
		registrationError(w, http.StatusBadRequest, "invalid_client_metadata", field, msg)
	}
	return false
}

func jsonKind(k string) string {
	switch k {
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	case "int", "int64", "float64":
		return "number"
	}
	return k
}

func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (a *API) serverError(w http.ResponseWriter, r *http.Request, err error) {
	a.logger().ErrorContext(r.Context(), "clients API", "path", r.URL.Path, "err", err)
	apierr.WriteServerError(w)
}

func (a *API) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.New(slog.DiscardHandler)
}
