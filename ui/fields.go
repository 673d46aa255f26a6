package ui

import (
	"strings"

	"github.com/a-h/templ"
)

// FieldErrors maps a form field's name to its error message.
type FieldErrors map[string]string

// formField maps an API error's field name (launcher: "client.redirect_uris",
// "fhir_context.role") onto the form field that shows it.
func formField(apiField string) string {
	f := strings.TrimPrefix(apiField, "client.")
	if strings.HasPrefix(f, "fhir_context") {
		return "fhir_context"
	}
	return f
}

// errID is the id of a field's error message, for aria-describedby.
func errID(field string) string { return "err-" + field }

// errAttrs marks an input invalid and points it at its error message
// (WCAG 3.3.1: the error is identified and described in text).
func errAttrs(errs FieldErrors, field string) templ.Attributes {
	if errs[field] == "" {
		return templ.Attributes{}
	}
	return templ.Attributes{"aria-invalid": "true", "aria-describedby": errID(field)}
}

// describedBy is errAttrs plus a hint's id, for inputs that have both.
func describedBy(errs FieldErrors, field, hintID string) templ.Attributes {
	a := errAttrs(errs, field)
	if hintID == "" {
		return a
	}
	if v, ok := a["aria-describedby"].(string); ok {
		a["aria-describedby"] = v + " " + hintID
	} else {
		a["aria-describedby"] = hintID
	}
	return a
}
