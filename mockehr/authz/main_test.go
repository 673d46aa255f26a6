package authz

import (
	"crypto/rand"
	"crypto/rsa"
	"io"
	"log/slog"
	"testing"

	"github.com/ehrsim/ehrsim/internal/pgtest"
)

func TestMain(m *testing.M) {
	// zitadel logs every route and error through slog.Default.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	// One RSA key for every test server: generation dominates start-up.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	generateKey = func() (*rsa.PrivateKey, error) { return key, nil }
	pgtest.Main(m) // a PostgreSQL server for the storage contract tests
}
