package smart

import "testing"

func TestFHIRBaseParseAndBuild(t *testing.T) {
	const o = "http://127.0.0.1:8080"
	for _, c := range []struct {
		in       string
		ok       bool
		scenario string
	}{
		{o + "/fhir", true, ""},
		{o + "/fhir/", true, ""}, // one trailing slash is ignored
		{o + "/fhir//", false, ""},
		{o + "/sim/abc/fhir", true, "abc"},
		{o + "/sim/abc/fhir/", true, "abc"},
		{o + "/sim//fhir", false, ""},
		{o + "/sim/a/b/fhir", false, ""},
		{o + "/sim/abc", false, ""},
		{"http://127.0.0.1:8081/fhir", false, ""},
		{"https://127.0.0.1:8080/fhir", false, ""},
		{o + "/fhir/Patient", false, ""},
	} {
		b, ok := ParseFHIRBase(o+"/", c.in)
		if ok != c.ok || b.Scenario != c.scenario {
			t.Errorf("ParseFHIRBase(%q) = %+v %v, want ok=%v scenario=%q", c.in, b, ok, c.ok, c.scenario)
			continue
		}
		if ok && b.URL() != TrimSlash(c.in) {
			t.Errorf("URL() = %q, want %q", b.URL(), TrimSlash(c.in))
		}
	}
	plain, scen := FHIRBase{Origin: o}, FHIRBase{Origin: o, Scenario: "abc"}
	if plain.Endpoints().Token != o+"/auth/oauth/token" || plain.ScenarioTokenURL() != "" {
		t.Errorf("plain endpoints %+v", plain.Endpoints())
	}
	if scen.Endpoints().Token != o+"/sim/abc/auth/token" || scen.Endpoints().Authorization != o+"/auth/authorize" || scen.Endpoints().Issuer != o+"/auth" {
		t.Errorf("scenario endpoints %+v", scen.Endpoints())
	}
}
