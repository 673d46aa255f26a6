// Package layout is the base HTML layout every ehrsim page renders inside:
// document head with the fingerprinted CSS, header with navigation, main
// landmark, footer. Pages pass a PageData and their body component.
//
// It owns only the frame; page content lives with each page (ui, ui/authui).
package layout
