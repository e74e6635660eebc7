/**
 * Shared pieces of the convert tests: the CLI as a child process (test/helpers/cli.ts), exports
 * derived from the bundled sample (rows edited, frames copied), the source rows to compare against,
 * and one Python snippet that loads a converted dataset with `datasets` in each of the four ways users do.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openExport } from '../src/export/read.ts';
import type { JsonObject } from '../src/export/step.ts';
import { cliOk } from './helpers/cli.ts';
import type { CliRun } from './helpers/cli.ts';
import { repoRoot, runPython } from './helpers/python.ts';

export const SAMPLE = path.join(repoRoot, 'samples', 'jsonl');
/** With seed 0 these ratios give the 8 sample sessions three non-empty splits (6/1/1 sessions, 47/20/10 rows). */
export const SPLIT3 = ['--split', 'train=0.8,validation=0.1,test=0.1', '--seed', '0'];
export const SPLIT3_ROWS = { train: 47, validation: 20, test: 10 };

export function tempDir(prefix = 'nusomi-convert-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export { runCli } from './helpers/cli.ts';
export type { CliRun } from './helpers/cli.ts';

/** `convert` that must succeed; returns the run for its stdout/stderr. */
export function convertOk(input: string, out: string, args: string[] = []): Promise<CliRun> {
  return cliOk(['convert', input, '--out', out, ...args]);
}

/** Every file under `dir`, relative POSIX paths, sorted (hidden temp files included). */
export async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(path.join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out.sort();
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface SourceRow {
  /** The row as the export holds it: session_id, t_ms, frame, action, context, unknown fields. */
  row: JsonObject;
  imageSha256: string;
}

/** The export's rows as Steps read them, keyed `session_id/t_ms`. */
export async function sourceRows(root: string): Promise<Map<string, SourceRow>> {
  const reader = await openExport(root);
  const rows = new Map<string, SourceRow>();
  for await (const s of reader.steps()) {
    const row: JsonObject = { session_id: s.session_id, t_ms: s.t_ms, frame: s.frame, action: s.action, context: s.context, ...s.extra };
    rows.set(`${s.session_id}/${s.t_ms}`, { row, imageSha256: sha256(await s.image.read()) });
  }
  return rows;
}

/** The sample's rows as parsed JSON objects, in file order. */
export async function sampleJsonRows(): Promise<JsonObject[]> {
  const dir = path.join(SAMPLE, 'data');
  const rows: JsonObject[] = [];
  for (const f of (await readdir(dir)).sort()) {
    for (const line of (await readFile(path.join(dir, f), 'utf8')).split('\n')) if (line.trim()) rows.push(JSON.parse(line) as JsonObject);
  }
  return rows;
}

/**
 * A jsonl export made from the sample: `lines` are rows (objects) or raw lines (strings, for bad
 * input), written to one data file; the sample's frames are copied so image URLs resolve.
 */
export async function deriveExport(
  dir: string,
  lines: Array<JsonObject | string>,
  manifestEdit: (m: JsonObject) => void = () => {},
): Promise<string> {
  await mkdir(path.join(dir, 'data'), { recursive: true });
  await cp(path.join(SAMPLE, 'frames'), path.join(dir, 'frames'), { recursive: true });
  const manifest = JSON.parse(await readFile(path.join(SAMPLE, 'manifest.json'), 'utf8')) as JsonObject;
  manifest.rows = lines.length;
  manifest.shards = 1;
  manifestEdit(manifest);
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  await writeFile(
    path.join(dir, 'data', 'part-00000.jsonl'),
    lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n',
  );
  return dir;
}

export interface LoadedDataset {
  features: Record<string, unknown>;
  action_type_names: string[];
  outcome_names: string[];
  kinds: { image: string; action_type: string; outcome: string };
  /** Rows per split; `image` replaced by {sha256, path, size: [w, h] as PIL decodes it}. */
  splits: Record<string, Array<Record<string, unknown>>>;
}

const LOAD_SNIPPET = `
import glob, hashlib, io, json, os, sys
import datasets
from PIL import Image as PILImage
mode, out = sys.argv[1], sys.argv[2]
if mode == 'readme':
    dd = datasets.load_dataset(out)
elif mode == 'parquet':
    names = sorted({os.path.basename(f).split('-')[0] for f in glob.glob(out + '/data/*.parquet')})
    dd = datasets.load_dataset('parquet', data_files={n: sorted(glob.glob(f'{out}/data/{n}-*.parquet')) for n in names})
elif mode == 'disk':
    dd = datasets.load_from_disk(out + '/arrow')
elif mode == 'arrow':
    names = sorted(os.listdir(out + '/arrow'))
    names = [n for n in names if os.path.isdir(f'{out}/arrow/{n}')]
    dd = datasets.load_dataset('arrow', data_files={n: sorted(glob.glob(f'{out}/arrow/{n}/data-*.arrow')) for n in names})
first = next(iter(dd.values()))
f = first.features
res = {
    'features': f.to_dict(),
    'action_type_names': f['action']['type'].names,
    'outcome_names': f['outcome'].names,
    'kinds': {'image': type(f['image']).__name__, 'action_type': type(f['action']['type']).__name__, 'outcome': type(f['outcome']).__name__},
    'splits': {},
}
for name, ds in dd.items():
    assert ds.features == f, name
    rows = []
    for r in ds.cast_column('image', datasets.Image(decode=False)):
        b = r['image']['bytes']
        with PILImage.open(io.BytesIO(b)) as im:
            im.load()
            size = list(im.size)
        r['image'] = {'sha256': hashlib.sha256(b).hexdigest(), 'path': r['image']['path'], 'size': size}
        rows.append(r)
    res['splits'][name] = rows
# Timestamps (started_at) as the epoch milliseconds the steps row holds.
print(json.dumps(res, default=lambda o: round(o.timestamp() * 1000)))
`;

/** Load a converted dataset with `datasets`: README-driven, parquet files, load_from_disk, arrow files. */
export function loadWithDatasets(mode: 'readme' | 'parquet' | 'disk' | 'arrow', out: string, hfHome: string): Promise<LoadedDataset> {
  return runPython<LoadedDataset>(LOAD_SNIPPET, { args: [mode, out], env: { HF_HOME: hfHome, HF_DATASETS_DISABLE_PROGRESS_BARS: '1' } });
}
