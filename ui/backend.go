package ui

import (
	"net/http"
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/clients"
)

// signAssertionJS signs a SMART backend-services client assertion (RS384,
// SMART backend-services §authentication JWT) with the PUBLIC demo key, in
// Node.js (18+) with no package: argv = token URL, client id.
const signAssertionJS = `const c=require("crypto"),fs=require("fs");` +
	`const [aud,iss]=process.argv.slice(1);` +
	`const k=JSON.parse(fs.readFileSync("demo-private-jwks.json")).keys.find(k=>k.kid==="` + clients.DemoKeyRS384 + `");` +
	`const b=o=>Buffer.from(JSON.stringify(o)).toString("base64url");` +
	`const now=Math.floor(Date.now()/1000);` +
	`const h=b({alg:"RS384",typ:"JWT",kid:k.kid}),p=b({iss:iss,sub:iss,aud:aud,exp:now+240,jti:c.randomUUID()});` +
	`const s=c.sign("sha384",Buffer.from(h+"."+p),c.createPrivateKey({key:k,format:"jwk"}));` +
	`console.log(h+"."+p+"."+s.toString("base64url"))`

// backendCurl is a ready shell session for a backend-service launch:
// download the demo key, find the token endpoint by discovery, sign a
// client assertion, ask for a token for the scenario's FHIR base (the
// RFC 8707 resource parameter carries the scenario to the token
// endpoint), read FHIR with it.
func backendCurl(base, fhirBase, clientID, scope string) string {
	if clientID == "" {
		clientID = clients.DemoBackend
	}
	if scope == "" {
		scope = "system/*.rs"
	}
	lines := []string{
		"FHIR='" + fhirBase + "'",
		"# PUBLIC demo keys: fine for ehrsim, never for anything real",
		"curl -s " + base + "/clients/demo-private-jwks.json -o demo-private-jwks.json",
		`TOKEN_URL=$(curl -s "$FHIR/.well-known/smart-configuration" | node -pe 'JSON.parse(require("fs").readFileSync(0)).token_endpoint')`,
		"ASSERTION=$(node -e '" + signAssertionJS + `' "$TOKEN_URL" '` + clientID + "')",
		`ACCESS_TOKEN=$(curl -s -X POST "$TOKEN_URL" \`,
		`  -d grant_type=client_credentials \`,
		`  --data-urlencode resource="$FHIR" \`,
		`  --data-urlencode scope='` + scope + `' \`,
		`  -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \`,
		`  -d client_assertion="$ASSERTION" | tee /dev/stderr | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')`,
		`curl -s -H "Authorization: Bearer $ACCESS_TOKEN" -H 'Accept: application/fhir+json' "$FHIR/Patient?_count=5"`,
	}
	return strings.Join(lines, "\n")
}

// demoKeys serves the PUBLIC demo key set, private parts included, so the
// backend-service example runs without a checkout. It is published in the
// repository already (mockehr/clients/demokeys); serving it adds nothing.
func (h *Handler) demoKeys(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="demo-private-jwks.json"`)
	w.Write(clients.DemoPrivateJWKS())
}
