// Package static embeds ehrsim's browser assets (CSS design system, small
// JavaScript, images, the built-in sample app) and serves them.
//
// Assets under css/, js/ and img/ are served at fingerprinted paths
// (/static/css/app.<hash>.css) with a one-year immutable cache; templates
// get those paths from Path, so a changed file always gets a new URL.
// The sample app under sample-app/ is served as-is at /sample-app/ without
// fingerprints, because SMART apps are registered by fixed launch and
// redirect URLs. Nothing is fetched from a CDN at run time.
//
// This package owns the files and their serving; it knows nothing about
// pages (ui) or SMART.
package static
