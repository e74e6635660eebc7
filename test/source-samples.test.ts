/**
 * Whole exports read from object storage and signed URLs give the same Steps as the local copy:
 * every field, and every frame's bytes by sha256. The exports are uploaded to moto_server (S3) and
 * Azurite through the sinks, and served over a Range server with a manifest that lists its files.
 */
import { createHash } from 'node:crypto';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openExport } from '../src/export/read.ts';
import { AzureSink } from '../src/sink/azure.ts';
import { S3Sink } from '../src/sink/s3.ts';
import type { Sink } from '../src/sink/types.ts';
import { blobServiceFor } from '../src/source/azure.ts';
import { s3ClientFor } from '../src/source/s3.ts';
import { collect, comparable, makeColumnarExport, makeJsonlExport, tempDir } from './export-fixtures.ts';
import { startAzurite, startMoto, startRangeServer } from './helpers/services.ts';
import type { RangeServer, RunningService } from './helpers/services.ts';

const SIG = 'sv=2026&sig=c2VjcmV0LXNpZ25hdHVyZQ';

/** Every file under `dir`, as POSIX paths relative to it, sorted. */
async function tree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await tree(dir, rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out.sort();
}

async function upload(dir: string, sink: Sink): Promise<void> {
  for (const p of await tree(dir)) await sink.writeFile(p, new Uint8Array(await readFile(path.join(dir, p))));
}

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A private copy, so the local read and the uploads see the same bytes. */
async function snapshot(rel: string): Promise<string> {
  const dir = await tempDir('nusomi-sample-');
  await cp(path.join(repo, rel), dir, { recursive: true });
  return dir;
}

/** The bundled samples, plus fixture variants (frames by URL, frames embedded in parquet). */
const exportsUnderTest: { name: string; make: () => Promise<string>; temp?: boolean }[] = [
  { name: 'samples/jsonl', make: () => snapshot('samples/jsonl'), temp: true },
  { name: 'samples/parquet', make: () => snapshot('samples/parquet'), temp: true },
  { name: 'fixture jsonl (frames by destination URL)', make: () => makeJsonlExport({ shards: 2 }), temp: true },
  {
    name: 'fixture parquet (embedded frames, JSON-text nesting)',
    make: async () => makeColumnarExport(await makeJsonlExport(), { format: 'parquet', nesting: 'json', embed: true }),
    temp: true,
  },
];

let moto: RunningService;
let azurite: RunningService;
let ranges: RangeServer;
let served: string;
const roots: { local: string; s3: string; azure: string; https: string }[] = [];
const temps: string[] = [];
const savedEnv = { ...process.env };

beforeAll(async () => {
  served = await tempDir('nusomi-served-');
  [moto, azurite, ranges] = await Promise.all([startMoto(), startAzurite(), startRangeServer(served, { signature: SIG })]);
  // openExport opens sources from what the user wrote, configured by the environment.
  Object.assign(process.env, moto.env, azurite.env);
  await s3ClientFor(moto.env).send(new CreateBucketCommand({ Bucket: 'exports' }));
  await blobServiceFor(azurite.env).getContainerClient('exports').create();

  for (const [i, e] of exportsUnderTest.entries()) {
    const local = await e.make();
    if (e.temp) temps.push(local);
    await upload(local, new S3Sink(`s3://exports/e${i}/`, moto.env));
    await upload(local, new AzureSink(`az://exports/e${i}/`, azurite.env));
    // Over https the export cannot be listed: its manifest names its data files.
    const copy = path.join(served, `e${i}`);
    await cp(local, copy, { recursive: true });
    const manifest = JSON.parse(await readFile(path.join(copy, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    const data = (await tree(copy)).filter((p) => p.startsWith('data/'));
    manifest.files = await Promise.all(
      data.map(async (p) => {
        const b = await readFile(path.join(copy, p));
        return { path: p, bytes: b.byteLength, sha256: createHash('sha256').update(new Uint8Array(b)).digest('hex') };
      }),
    );
    await writeFile(path.join(copy, 'manifest.json'), JSON.stringify(manifest, null, 2));
    roots.push({ local, s3: `s3://exports/e${i}/`, azure: `az://exports/e${i}/`, https: ranges.signed(`e${i}/manifest.json`) });
  }
});

afterAll(async () => {
  process.env = savedEnv;
  await Promise.all([moto?.stop(), azurite?.stop(), ranges?.stop()]);
  for (const t of temps) await rm(t, { recursive: true, force: true });
  if (served) await rm(served, { recursive: true, force: true });
});

describe.each(exportsUnderTest.map((e, i) => [e.name, i] as const))('export %s', (_name, i) => {
  let expected: Record<string, unknown>[];

  beforeAll(async () => {
    const reader = await openExport(roots[i]!.local);
    expected = await Promise.all((await collect(reader.steps())).map(comparable));
    expect(expected.length).toBeGreaterThan(0);
  });

  it.each(['s3', 'azure', 'https'] as const)('reads from %s to the same steps as the local copy', async (kind) => {
    const reader = await openExport(roots[i]![kind]);
    expect(reader.source.constructor.name).toBe({ s3: 'S3Source', azure: 'AzureSource', https: 'HttpsSource' }[kind]);
    const got = await Promise.all((await collect(reader.steps())).map(comparable));
    expect(got.length).toBe(expected.length);
    for (let k = 0; k < got.length; k++) expect(got[k], `step ${k}`).toEqual(expected[k]);
    if (kind === 'https' && i === 0) {
      // Frames referenced by destination URL were fetched beside the manifest, signed (else 403).
      expect(ranges.requests.some((r) => r.startsWith(`GET /e${i}/frames/`))).toBe(true);
    }
  });
});
