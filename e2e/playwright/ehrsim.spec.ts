// The fixture's own spec (run by fixture_test.go in ehrsim's CI): the
// built-in sample app through EHR launches, with and without the consent
// page, and a simulated error.
import { test, expect } from './ehrsim';

test('EHR launch of the built-in sample app shows the patient', async ({ page, ehrsim }) => {
  // No app_launch_url and no client: the launch is for the built-in sample app.
  const l = await ehrsim.launch({ launch_type: 'provider-ehr', patient: 'pat-grace-kim', skip_consent: true });
  expect(l.iss).toBe(ehrsim.fhir);
  await page.goto(l.launch_url);
  await expect(page.getByTestId('app-status')).toHaveText('Done.');
  await expect(page.getByTestId('patient-name')).toHaveText('Grace Kim');
  await expect(page.getByTestId('app-error')).toBeHidden();
});

test('EHR launch without skip_consent stops at the consent page, never a login page', async ({ page, ehrsim }) => {
  const l = await ehrsim.launch({ launch_type: 'provider-ehr', patient: 'pat-amy-shaw' });
  await page.goto(l.launch_url);
  // The clinician is signed in to the EHR already: consent comes first.
  await expect(page.getByTestId('consent-page')).toBeVisible();
  await expect(page.getByTestId('login-page')).toHaveCount(0);
  await page.getByTestId('consent-allow').click();
  await expect(page.getByTestId('patient-name')).toHaveText('Amy V. Shaw');
});

test('a simulated error reaches the app', async ({ page, ehrsim }) => {
  const l = await ehrsim.launch({
    launch_type: 'provider-ehr', patient: 'pat-amy-shaw', skip_consent: true, simulate_error: 'auth_access_denied',
  });
  await page.goto(l.launch_url);
  await expect(page.getByTestId('app-error')).toContainText('access_denied');
});

test('a bad launch names the field', async ({ ehrsim }) => {
  await expect(ehrsim.launch({ launch_type: 'provider-ehr', patient: 'no-such-patient' })).rejects.toThrow(/400 patient/);
});
