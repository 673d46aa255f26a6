package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/clients"
)

// ClientsPage is the view model of /clients and /clients/{id}.
type ClientsPage struct {
	Clients []clients.Client
	Flash   string
	Form    ClientForm
	Editing bool // the form edits Form.ID instead of creating
	Errors  FieldErrors
}

// ClientForm is the create/edit form; names are the /api/clients JSON names.
type ClientForm struct {
	ID, Name, Type, RedirectURIs, LaunchURL, Scope, JWKSURL, JWKS, PKCE string
	AccessTokenLifetime, RefreshTokenLifetime                           string
	Secret                                                              string
	HasSecret                                                           bool
}

var clientFormTypes = []Option{
	{clients.TypePublic, "public (browser or mobile app, no secret)"},
	{clients.TypeSymmetric, "confidential-symmetric (client secret)"},
	{clients.TypeAsymmetric, "confidential-asymmetric (private_key_jwt)"},
	{clients.TypeBackend, "backend-service (client_credentials, private_key_jwt)"},
}

func clientFormFrom(c *clients.Client) ClientForm {
	f := ClientForm{ID: c.ID, Name: c.Name, Type: c.Type, RedirectURIs: strings.Join(c.RedirectURIs, "\n"),
		LaunchURL: c.LaunchURL, Scope: c.Scope, JWKSURL: c.JWKSURL, PKCE: c.PKCE, HasSecret: c.HasSecret}
	if len(c.JWKS) > 0 {
		f.JWKS = string(c.JWKS)
	}
	if c.AccessTokenLifetime > 0 {
		f.AccessTokenLifetime = strconv.Itoa(c.AccessTokenLifetime)
	}
	if c.RefreshTokenLifetime > 0 {
		f.RefreshTokenLifetime = strconv.Itoa(c.RefreshTokenLifetime)
	}
	return f
}

func parseClientForm(v url.Values) ClientForm {
	g := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	return ClientForm{ID: g("client_id"), Name: g("client_name"), Type: g("client_type"), RedirectURIs: g("redirect_uris"),
		LaunchURL: g("launch_url"), Scope: g("scope"), JWKSURL: g("jwks_url"), JWKS: g("jwks"), PKCE: g("pkce"),
		AccessTokenLifetime: g("access_token_lifetime"), RefreshTokenLifetime: g("refresh_token_lifetime"), Secret: v.Get("client_secret")}
}

// client turns the form into the registry's model; malformed numbers and
// JSON are field errors here.
func (f ClientForm) client() (clients.Client, FieldErrors) {
	c := clients.Client{ID: f.ID, Name: f.Name, Type: f.Type, RedirectURIs: strings.Fields(f.RedirectURIs),
		LaunchURL: f.LaunchURL, Scope: strings.Join(strings.Fields(f.Scope), " "), JWKSURL: f.JWKSURL, PKCE: f.PKCE}
	errs := FieldErrors{}
	if f.JWKS != "" {
		if !json.Valid([]byte(f.JWKS)) {
			errs["jwks"] = "is not valid JSON; paste a JWK Set like {\"keys\":[…]}"
		} else {
			c.JWKS = json.RawMessage(f.JWKS)
		}
	}
	for _, n := range []struct {
		field, s string
		dst      *int
	}{{"access_token_lifetime", f.AccessTokenLifetime, &c.AccessTokenLifetime}, {"refresh_token_lifetime", f.RefreshTokenLifetime, &c.RefreshTokenLifetime}} {
		if n.s == "" {
			continue
		}
		v, err := strconv.Atoi(n.s)
		if err != nil || v < 0 {
			errs[n.field] = "must be a whole number of seconds"
			continue
		}
		*n.dst = v
	}
	if len(errs) == 0 {
		errs = nil
	}
	return c, errs
}

func (h *Handler) clientsList(w http.ResponseWriter, r *http.Request) {
	if h.missing(w, r, h.Clients) {
		return
	}
	q := r.URL.Query()
	p := ClientsPage{Form: ClientForm{Type: clients.TypePublic}}
	switch {
	case q.Get("created") != "":
		p.Flash = "Client " + q.Get("created") + " created."
	case q.Get("saved") != "":
		p.Flash = "Client " + q.Get("saved") + " saved."
	case q.Get("deleted") != "":
		p.Flash = "Client " + q.Get("deleted") + " deleted."
	}
	h.renderClients(w, r, http.StatusOK, p)
}

func (h *Handler) renderClients(w http.ResponseWriter, r *http.Request, status int, p ClientsPage) {
	list, err := h.Clients.List(r.Context())
	if err != nil {
		h.internal(w, r, "list clients", err)
		return
	}
	p.Clients = list
	h.render(w, r, status, clientsPage(p))
}

func (h *Handler) clientsCreate(w http.ResponseWriter, r *http.Request) {
	if h.missing(w, r, h.Clients) {
		return
	}
	if err := r.ParseForm(); err != nil {
		h.Error(w, r, http.StatusBadRequest, "Bad form", "The form could not be read: "+err.Error())
		return
	}
	f := parseClientForm(r.PostForm)
	c, errs := f.client()
	if errs == nil {
		_, err := h.Clients.Create(r.Context(), c, f.Secret)
		if err == nil {
			http.Redirect(w, r, "/clients?created="+url.QueryEscape(c.ID), http.StatusSeeOther)
			return
		}
		if errs = clientErrors(err); errs == nil {
			h.internal(w, r, "create the client", err)
			return
		}
	}
	f.Secret = ""
	h.renderClients(w, r, http.StatusBadRequest, ClientsPage{Form: f, Errors: errs})
}

func (h *Handler) clientsEdit(w http.ResponseWriter, r *http.Request) {
	if h.missing(w, r, h.Clients) {
		return
	}
	c, err := h.Clients.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, clients.ErrNotFound) {
		h.Error(w, r, http.StatusNotFound, "Unknown client", "There is no client "+r.PathValue("id")+". It may have been deleted.")
		return
	}
	if err != nil {
		h.internal(w, r, "read the client", err)
		return
	}
	h.renderClients(w, r, http.StatusOK, ClientsPage{Form: clientFormFrom(c), Editing: true})
}

func (h *Handler) clientsUpdate(w http.ResponseWriter, r *http.Request) {
	if h.missing(w, r, h.Clients) {
		return
	}
	if err := r.ParseForm(); err != nil {
		h.Error(w, r, http.StatusBadRequest, "Bad form", "The form could not be read: "+err.Error())
		return
	}
	f := parseClientForm(r.PostForm)
	f.ID = r.PathValue("id") // the id is the address, not a form field
	c, errs := f.client()
	if errs == nil {
		var secret *string // empty: keep the stored secret
		if f.Secret != "" {
			secret = &f.Secret
		}
		_, err := h.Clients.Update(r.Context(), c, secret)
		switch {
		case err == nil:
			http.Redirect(w, r, "/clients?saved="+url.QueryEscape(c.ID), http.StatusSeeOther)
			return
		case errors.Is(err, clients.ErrNotFound):
			h.Error(w, r, http.StatusNotFound, "Unknown client", "There is no client "+f.ID+". It may have been deleted.")
			return
		}
		if errs = clientErrors(err); errs == nil {
			h.internal(w, r, "update the client", err)
			return
		}
	}
	f.Secret = ""
	if old, err := h.Clients.Get(r.Context(), f.ID); err == nil {
		f.HasSecret = old.HasSecret
	}
	h.renderClients(w, r, http.StatusBadRequest, ClientsPage{Form: f, Editing: true, Errors: errs})
}

func (h *Handler) clientsDelete(w http.ResponseWriter, r *http.Request) {
	if h.missing(w, r, h.Clients) {
		return
	}
	id := r.PathValue("id")
	err := h.Clients.Delete(r.Context(), id)
	switch {
	case errors.Is(err, clients.ErrNotFound):
		h.Error(w, r, http.StatusNotFound, "Unknown client", "There is no client "+id+". It may have been deleted already.")
	case err != nil:
		h.internal(w, r, "delete the client", err)
	default:
		http.Redirect(w, r, "/clients?deleted="+url.QueryEscape(id), http.StatusSeeOther)
	}
}

// clientErrors maps registry validation errors onto form fields; nil for
// anything that is not the user's mistake.
func clientErrors(err error) FieldErrors {
	var fe *clients.FieldError
	switch {
	case errors.As(err, &fe):
		return FieldErrors{fe.Field: fe.Message}
	case errors.Is(err, clients.ErrExists):
		return FieldErrors{"client_id": "a client with this id exists already; edit it instead"}
	}
	return nil
}
