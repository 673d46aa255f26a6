// ehrsim.ts: a Playwright fixture that gives each worker its own ehrsim.
//
// Copy it into your project (it needs only @playwright/test and Node ≥ 18).
// It starts the ehrsim binary named by EHRSIM_BIN, never `go run` (SIGTERM
// to `go run` leaves the ehrsim child running and holding its port). Build
// the binary once from a checkout, or install it:
//
//   go build -C /path/to/ehrsim -o "$PWD/bin/ehrsim" ./cmd/ehrsim
//   export EHRSIM_BIN="$PWD/bin/ehrsim"
//   # or: go install github.com/ehrsim/ehrsim/cmd/ehrsim@latest; export EHRSIM_BIN="$(go env GOPATH)/bin/ehrsim"
//
// Each worker gets a server on 127.0.0.1 on a free port with a fresh data
// directory; at the end of the worker it is stopped with SIGTERM, the
// fixture waits for the process to exit, then deletes the directory.
// ehrsim's own spec for this file is ehrsim.spec.ts, run in ehrsim's CI.
import { test as base, expect } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The body of POST /api/launches (docs/architecture.md, "Launch API contract"). */
export type LaunchRequest = {
  launch_type: 'provider-ehr' | 'patient-portal' | 'provider-standalone' | 'patient-standalone' | 'backend-service';
  patient?: string;
  encounter?: string;
  practitioner?: string;
  fhir_context?: object[];
  need_patient_banner?: boolean;
  smart_style_url?: string;
  intent?: string;
  tenant?: string;
  skip_login?: boolean;
  skip_consent?: boolean;
  client?: {
    client_id?: string;
    client_type?: string;
    client_secret?: string;
    redirect_uris?: string[];
    scope?: string;
    jwks_url?: string;
    jwks?: object;
    pkce?: 'required' | 'optional';
  };
  simulate_error?: string;
  app_launch_url?: string;
  launch_once?: boolean;
  access_token_lifetime?: number;
  refresh_token_lifetime?: number;
};

/** The 201 answer of POST /api/launches. */
export type Launch = {
  id: string;
  launch: string;
  iss: string;
  launch_url: string;
  fhir_base_url: string;
  sim_ehr_url: string;
};

export type Ehrsim = {
  /** Base URL, http://127.0.0.1:<port> (no trailing slash). */
  url: string;
  /** FHIR base and iss of EHR launches: url + '/fhir'. */
  fhir: string;
  /** Mints a launch; throws with the offending field on a 400. */
  launch(req: LaunchRequest): Promise<Launch>;
  /** Everything the server printed so far (ready line, request log, warnings). */
  log(): string;
};

const readyLine = /^ehrsim ready in \S+: launcher (http:\/\/\S+?)\/\s/;

async function startEhrsim() {
  const bin = process.env.EHRSIM_BIN;
  if (!bin) {
    throw new Error('EHRSIM_BIN is not set: build ehrsim (go build -C <checkout> -o <dir>/ehrsim ./cmd/ehrsim) and set EHRSIM_BIN=<dir>/ehrsim');
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'ehrsim-'));
  // Your shell's EHRSIM_* settings never reach the test server.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EHRSIM_')));
  const proc: ChildProcess = spawn(bin, ['--listen', '127.0.0.1:0', '--data-dir', dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>(resolve => proc.once('exit', () => resolve()));
  let out = '';
  proc.stderr!.on('data', chunk => { out += chunk; });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ehrsim printed no ready line within 30 s:\n${out}`)), 30_000);
    proc.once('error', err => { clearTimeout(timer); reject(err); });
    proc.once('exit', code => { clearTimeout(timer); reject(new Error(`ehrsim exited with code ${code} before it was ready:\n${out}`)); });
    createInterface({ input: proc.stdout! }).on('line', line => {
      out += line + '\n';
      const m = line.match(readyLine);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
  }).catch(async err => {
    proc.kill('SIGKILL');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM'); // graceful: in-flight requests finish, the database is closed
      const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited; // never delete the data directory under a running server
      clearTimeout(killer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { url, stop, log: () => out };
}

export const test = base.extend<{}, { ehrsim: Ehrsim }>({
  ehrsim: [async ({}, use) => {
    const s = await startEhrsim();
    try {
      await use({
        url: s.url,
        fhir: s.url + '/fhir',
        log: s.log,
        async launch(req) {
          const res = await fetch(s.url + '/api/launches', {
            method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(req),
          });
          const body = await res.json();
          if (res.status !== 201) {
            throw new Error(`POST /api/launches: ${res.status} ${body.field ?? ''}: ${body.error_description ?? body.error}`);
          }
          return body as Launch;
        },
      });
    } finally {
      await s.stop();
    }
  }, { scope: 'worker' }],
});
export { expect };
