// Package archtest holds no code, only a test (arch_test.go) that enforces
// the direction of imports between ehrsim's packages, so that `go test ./...`
// fails when a package starts depending on one it must not know about. The
// rules are written out in docs/architecture.md ("Dependency direction").
package archtest
