// Package layout is the base HTML layout every ehrsim page renders inside:
// document head with the fingerprinted CSS, header with navigation, main
// landmark, footer. Pages pass a PageData and their body component. Bare
// pages (the authorization server's) shown inside the simulated EHR's app
// frame (WithFramed) drop the site header and footer.
//
// It also holds the one rule for writing coded clinical text for people
// (ClinicalText: no SNOMED CT semantic tags, no LOINC panel wording), which
// the pages of ui and ui/authui share.
//
// It owns only the frame and that rule; page content lives with each page
// (ui, ui/authui).
package layout
