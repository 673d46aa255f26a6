package ui

import (
	"strconv"
	"strings"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
)

var launchTypeLabels = map[launcher.LaunchType]string{
	launcher.ProviderEHR:        "Provider EHR launch",
	launcher.PatientPortal:      "Patient portal launch",
	launcher.ProviderStandalone: "Provider standalone",
	launcher.PatientStandalone:  "Patient standalone",
	launcher.BackendService:     "Backend service",
}

func launchTypeLabel(t launcher.LaunchType) string {
	if s, ok := launchTypeLabels[t]; ok {
		return s
	}
	return string(t)
}

var clientTypeOptions = []Option{
	{"", "Default (registration, or public for ad-hoc)"},
	{clients.TypePublic, "public"},
	{clients.TypeSymmetric, "confidential-symmetric (client secret)"},
	{clients.TypeAsymmetric, "confidential-asymmetric (private_key_jwt)"},
}

// contextRows is the editor's rows: the form's, plus one blank to fill in
// without JavaScript.
func contextRows(rows []ContextRow) []ContextRow {
	return append(append([]ContextRow(nil), rows...), ContextRow{})
}

func itoa(i int) string { return strconv.Itoa(i) }

// testID turns a field name into its data-testid (client_id → client-id).
func testID(name string) string { return strings.ReplaceAll(name, "_", "-") }

func joinLines(s []string) string { return strings.Join(s, "\n") }

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
