import { describe, expect, it } from 'vitest';
import { runPython, runPythonRaw } from './helpers/python.ts';

describe('real-consumer harness', () => {
  it('imports every consumer package in the venv and reports its version', async () => {
    const versions = await runPython<Record<string, string>>(`
import json, importlib
mods = ["datasets", "pyarrow", "PIL", "torch", "polars", "duckdb", "huggingface_hub", "msgpack", "ray"]
print(json.dumps({m: importlib.import_module(m).__version__ for m in mods}))
`);
    for (const m of ['datasets', 'pyarrow', 'PIL', 'torch', 'polars', 'duckdb', 'huggingface_hub', 'msgpack', 'ray']) {
      expect(versions[m], m).toMatch(/^\d+\./);
    }
  });

  it('reports a failing snippet as an error with its stderr', async () => {
    const r = await runPythonRaw('import sys; sys.stderr.write("boom"); sys.exit(3)');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('boom');
    await expect(runPython('raise SystemExit(4)')).rejects.toThrow(/exited 4/);
  });
});
