package ehrsimtest

import (
	"reflect"
	"slices"
	"testing"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// jsonFields lists a struct's JSON members with their Go kinds (named
// string types count as string).
func jsonFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		k := f.Type.Kind().String()
		if f.Type.Kind() == reflect.Slice {
			k += " of " + f.Type.Elem().Kind().String()
		}
		out = append(out, f.Tag.Get("json")+" "+k)
	}
	slices.Sort(out)
	return out
}

// The kit's own documented types are the launch API's, member for member:
// a field added to the API shows up here until the kit has it too.
func TestTypesMatchTheLaunchAPI(t *testing.T) {
	for _, c := range []struct{ kit, api any }{
		{LaunchRequest{}, launcher.Request{}},
		{Client{}, launcher.Client{}},
		{FHIRContextItem{}, launcher.FHIRContextItem{}},
		{Launch{}, launcher.Result{}},
	} {
		kit, api := reflect.TypeOf(c.kit), reflect.TypeOf(c.api)
		if got, want := jsonFields(kit), jsonFields(api); !slices.Equal(got, want) {
			t.Errorf("ehrsimtest.%s has members\n%v\nlauncher.%s has\n%v", kit.Name(), got, api.Name(), want)
		}
	}
}

func TestConstantsMatchTheServer(t *testing.T) {
	var kit []SimulatedError
	for _, e := range []SimulatedError{SimAuthInvalidClientID, SimAuthInvalidRedirectURI, SimAuthInvalidScope,
		SimAuthAccessDenied, SimAuthTemporarilyUnavailable, SimAuthInvalidClientSecret, SimTokenInvalidToken,
		SimTokenInvalidScope, SimTokenInvalidJTI, SimTokenExpiredRegistration, SimTokenServerError,
		SimTokenExpiredRefreshToken, SimRequestInvalidToken, SimRequestExpiredToken, SimRequestInsufficientScope,
		SimRequestServerError, SimRequestRateLimited, SimRequestSlow} {
		kit = append(kit, e)
	}
	var server []SimulatedError
	for _, e := range smart.SimulatedErrors {
		server = append(server, SimulatedError(e.Name))
	}
	if !slices.Equal(kit, server) {
		t.Errorf("simulated errors: kit %v, server %v", kit, server)
	}
	var types []launcher.LaunchType
	for _, lt := range []LaunchType{ProviderEHR, PatientPortal, ProviderStandalone, PatientStandalone, BackendService} {
		types = append(types, launcher.LaunchType(lt))
	}
	if !slices.Equal(types, launcher.LaunchTypes) {
		t.Errorf("launch types: kit %v, server %v", types, launcher.LaunchTypes)
	}
	if EncounterAuto != launcher.EncounterAuto || EncounterNone != launcher.EncounterNone {
		t.Error("encounter selectors differ")
	}
	if ClientSampleApp != clients.DemoSampleApp || ClientPublic != clients.DemoPublic || ClientConfidential != clients.DemoConfidential ||
		ClientAsymmetric != clients.DemoAsymmetric || ClientBackend != clients.DemoBackend || DemoSecret != clients.DemoSecret {
		t.Error("demo clients differ")
	}
}

// The demo people the constants name exist in the default data: a launch
// for each is accepted.
func TestDemoPeopleExist(t *testing.T) {
	t.Parallel()
	srv := Start(t)
	for _, p := range []string{PatientAmyShaw, PatientGraceKim, PatientDanielRivera, PatientJamesNguyen, PatientMayaPatel,
		PatientHaroldWilson, PatientSarahLee, PatientRobertChen, PatientNoahJohnson, PatientWilliamAnderson} {
		for _, u := range []string{PractitionerEmilyCarter, PractitionerRajMehta} {
			if _, err := srv.TryLaunch(t.Context(), LaunchRequest{LaunchType: ProviderEHR, Patient: p, Practitioner: u}); err != nil {
				t.Errorf("%s with %s: %v", p, u, err)
			}
		}
	}
	if _, err := srv.TryLaunch(t.Context(), LaunchRequest{LaunchType: PatientStandalone, Patient: PatientGraceKim,
		FHIRContext: []FHIRContextItem{{Reference: "RelatedPerson/" + RelatedPersonHannahKim}}}); err != nil {
		t.Errorf("%s: %v", RelatedPersonHannahKim, err)
	}
}
