package scopes

import "strings"

// Kind says what a scope is for.
type Kind int

const (
	// KindUnknown is the zero Kind; Parse never returns it, so a zero
	// Scope is never mistaken for a valid one.
	KindUnknown Kind = iota
	// KindResource is a FHIR resource scope: patient/Observation.rs.
	KindResource
	// KindLaunch is "launch": the app wants the EHR launch context.
	KindLaunch
	// KindLaunchContext is "launch/patient", "launch/encounter" or
	// "launch/<lowercase type>[?role=uri]" (SCP-04).
	KindLaunchContext
	// KindOpenID is "openid".
	KindOpenID
	// KindFHIRUser is "fhirUser".
	KindFHIRUser
	// KindProfile is the v1 "profile" scope.
	KindProfile
	// KindOfflineAccess is "offline_access".
	KindOfflineAccess
	// KindOnlineAccess is "online_access".
	KindOnlineAccess
)

var kindNames = [...]string{"unknown", "resource", "launch", "launch-context", "openid", "fhirUser", "profile", "offline_access", "online_access"}

// String names the kind for logs and errors.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "unknown"
	}
	return kindNames[k]
}

// Context is the first segment of a resource scope.
type Context string

// The three resource-scope contexts (scopes §FHIR resource scope syntax).
const (
	ContextPatient Context = "patient"
	ContextUser    Context = "user"
	ContextSystem  Context = "system"
)

// Perms is a bit set of the v2 permission letters c r u d s.
type Perms uint8

// Permission bits, in the cruds order the spec requires them to be written.
const (
	PermC Perms = 1 << iota
	PermR
	PermU
	PermD
	PermS
)

// PermAll is cruds, the v2 meaning of v1 ".*".
const PermAll = PermC | PermR | PermU | PermD | PermS

const permLetters = "cruds"

// String writes the letters in cruds order, e.g. "rs".
func (p Perms) String() string {
	var b [5]byte
	n := 0
	for i := 0; i < len(permLetters); i++ {
		if p&(1<<i) != 0 {
			b[n] = permLetters[i]
			n++
		}
	}
	return string(b[:n])
}

// Allows reports whether p includes the letter for in.
func (p Perms) Allows(in Interaction) bool {
	bit := in.Perm()
	return bit != 0 && p&bit == bit
}

// Interaction is one SMART permission letter as the FHIR server sees a
// request (RS-07): c create, r read/vread/instance history, u update/patch,
// d delete, s search/type or system history.
type Interaction byte

// The five interactions, one per permission letter.
const (
	Create Interaction = 'c'
	Read   Interaction = 'r'
	Update Interaction = 'u'
	Delete Interaction = 'd'
	Search Interaction = 's'
)

// Perm returns the permission bit for in, or 0 for a byte that is not one
// of c r u d s.
func (in Interaction) Perm() Perms {
	switch in {
	case Create:
		return PermC
	case Read:
		return PermR
	case Update:
		return PermU
	case Delete:
		return PermD
	case Search:
		return PermS
	}
	return 0
}

// Param is one granular restriction of a v2 scope, with its value
// percent-decoded, e.g. {"category",
// "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"}.
type Param struct{ Name, Value string }

// Scope is one parsed scope string.
type Scope struct {
	Raw          string  // exactly as requested (v1 strings are granted back unchanged, SCP-02)
	Kind         Kind    //
	Context      Context // resource scopes only
	ResourceType string  // "*" or a FHIR type
	Perms        Perms   // v1 read→rs, write→cud, *→cruds
	V1           bool    // written in v1 syntax (.read, .write, .*)
	Params       []Param // granular (v2 only), AND-ed
	LaunchType   string  // for launch/<type>
	Role         string  // for launch/<type>?role=
}

// String returns Raw.
func (sc Scope) String() string { return sc.Raw }

// Join writes scopes as the space-separated list of their Raw values, the
// form of the OAuth scope parameter and the token response's scope.
func Join(scopes []Scope) string {
	var b strings.Builder
	for i, sc := range scopes {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(sc.Raw)
	}
	return b.String()
}
