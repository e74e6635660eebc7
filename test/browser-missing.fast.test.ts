// The browser tests skip only outside CI: with CI=true a missing chromium fails the run.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { browserMissing } from './helpers/browser.ts';

describe('browserMissing', () => {
  const emptyPath = mkdtempSync(path.join(os.tmpdir(), 'no-chromium-'));

  it('throws under CI=true when chromium is not on PATH', () => {
    expect(() => browserMissing({ PATH: emptyPath, CI: 'true' })).toThrow(/CI=true: chromium is not on PATH/);
  });

  it('gives the reason (the tests then skip, saying it) without CI=true', () => {
    expect(browserMissing({ PATH: emptyPath })).toMatch(/chromium is not on PATH/);
  });
});
