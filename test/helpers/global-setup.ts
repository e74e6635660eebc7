/**
 * Runs once before all tests. Checks that the real parts exist; with CI=true a missing part fails
 * the run instead of letting tests skip (house rule 3).
 */
import { existsSync } from 'node:fs';
import { venvPython } from './python.ts';

export default async function setup(): Promise<void> {
  if (!existsSync(venvPython)) {
    throw new Error(`the Python venv is missing (${venvPython}); run "npm test", which makes it`);
  }
}
