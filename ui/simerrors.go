package ui

import "github.com/ehrsim/ehrsim/mockehr/smart"

// simErrorExplanation returns the catalogue's sentence for a simulated
// error (smart.SimulatedErrors), "" when unknown.
func simErrorExplanation(name string) string {
	e, _ := smart.LookupSimulatedError(name)
	return e.Explanation
}
