/**
 * The real browser for report tests: Debian's `chromium` found on PATH (scripts/browser-env.sh
 * installs it), driven by playwright-core, which never downloads a browser of its own. Headless,
 * with background networking and component updates off: nothing but the page's own requests.
 * Without CI=true a missing chromium skips the browser tests with the reason printed; with
 * CI=true it fails them.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

/** The first `chromium` (or `chromium-browser`) executable on PATH, or null. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of ['chromium', 'chromium-browser']) {
      const p = path.join(dir, name);
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {}
    }
  }
  return null;
}

export const CHROMIUM_ARGS = [
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-default-apps',
  '--disable-domain-reliability',
  '--disable-sync',
  '--disable-extensions',
  '--disable-breakpad',
  '--disable-client-side-phishing-detection',
  '--no-first-run',
  '--no-default-browser-check',
  '--metrics-recording-only',
  '--no-pings',
  '--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,CertificateTransparencyComponentUpdater',
  // Containers often run tests as root, where chromium's sandbox cannot start.
  ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
];

/** Why browser tests cannot run here, or null when chromium is on PATH. With CI=true a missing browser throws. */
export function browserMissing(env: NodeJS.ProcessEnv = process.env): string | null {
  if (findChromium(env)) return null;
  const why = 'chromium is not on PATH (scripts/browser-env.sh installs it: apt-get install chromium)';
  if (env.CI === 'true') throw new Error(`CI=true: ${why}`);
  process.stderr.write(`skipping browser tests: ${why}\n`);
  return why;
}

export async function launchChromium(): Promise<Browser> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error('chromium is not on PATH');
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}
