package clients

import "errors"

// OAuth error codes an AuthError carries (RFC 6749 §5.2).
const (
	CodeInvalidClient  = "invalid_client"
	CodeInvalidRequest = "invalid_request"
)

// ErrReplayedJTI is wrapped by the AuthError for a client assertion whose
// jti was already used (checklist BES-11).
var ErrReplayedJTI = errors.New("jti replayed")

// AuthError is a client authentication failure. The authorization server
// writes it as OAuth error JSON: invalid_client → 401, invalid_request → 400.
// Description is meant for developers and says exactly what was wrong.
type AuthError struct {
	Code        string
	Description string
	Err         error // optional cause (e.g. ErrReplayedJTI)
}

func (e *AuthError) Error() string { return e.Code + ": " + e.Description }
func (e *AuthError) Unwrap() error { return e.Err }

func invalidClient(desc string) *AuthError {
	return &AuthError{Code: CodeInvalidClient, Description: desc}
}
