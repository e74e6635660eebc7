/**
 * Hostile shards are findings, not crashes: a member claiming 1 TB, a 10,000-level nested JSON and
 * a gzip member that inflates to 1 GB, validated by the CLI with a 256 MB heap; peak RSS measured.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ustarHeader } from '../src/write/tar.ts';
import { repoRoot } from './helpers/python.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'validate-hostile-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function member(name: string, data: Uint8Array): Uint8Array[] {
  return [ustarHeader(name, data.length, 0), data, new Uint8Array((512 - (data.length % 512)) % 512)];
}

async function gzipBomb(inflated: number): Promise<Uint8Array> {
  const gz = createGzip({ level: 9 });
  const parts: Buffer[] = [];
  gz.on('data', (c: Buffer) => parts.push(c));
  const done = new Promise((r) => gz.on('end', r));
  const zeros = Buffer.alloc(1 << 24);
  for (let n = 0; n < inflated; n += zeros.length) {
    if (!gz.write(zeros)) await new Promise((r) => gz.once('drain', r));
  }
  gz.end();
  await done;
  return new Uint8Array(Buffer.concat(parts as unknown as Uint8Array[]));
}

it('reports each hostile member and stays within a bounded memory', async () => {
  const deep = new TextEncoder().encode('['.repeat(10_000) + ']'.repeat(10_000));
  const bomb = await gzipBomb(1 << 30);
  // A header claiming 1 TB (base-256 size field: more than 11 octal digits hold).
  const huge = ustarHeader('h2.json', 0, 0);
  huge[124] = 0x80;
  huge.fill(0, 125, 136);
  const tb = 1024 ** 4;
  for (let i = 135, v = tb; i > 124; i--, v = Math.floor(v / 256)) huge[i] = v % 256;
  huge.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of huge) sum += b;
  Buffer.from(sum.toString(8).padStart(6, '0') + '\0 ', 'latin1').copy(
    Buffer.from(huge.buffer, huge.byteOffset + 148, 8) as unknown as Uint8Array,
  );
  const parts = [...member('h0.json', deep), ...member('h1.json.gz', bomb), huge, new Uint8Array(4096)];
  const file = path.join(tmp, 'hostile-000000.tar');
  await writeFile(file, Buffer.concat(parts as unknown as Uint8Array[]) as unknown as Uint8Array);

  // Peak RSS of the child from getrusage (no timing is asserted).
  const wrapper =
    'import json,resource,subprocess,sys\nr=subprocess.run(sys.argv[1:],capture_output=True,text=True)\nprint(json.dumps({"code":r.returncode,"out":r.stdout,"err":r.stderr,"rss_kb":resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))';
  const r = spawnSync(
    'python3',
    [
      '-c',
      wrapper,
      process.execPath,
      '--max-old-space-size=256',
      '--import',
      'tsx',
      path.join(repoRoot, 'src/cli/main.ts'),
      'validate',
      file,
      '--json',
    ],
    { cwd: repoRoot, encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { code: number; out: string; err: string; rss_kb: number };
  expect(res.code, res.err).toBe(1);
  const rep = JSON.parse(res.out);
  const ids = rep.checks.map((c: { id: string }) => c.id);
  expect(ids).toContain('wds.json_invalid');
  expect(ids).toContain('wds.decompression_bomb');
  expect(ids).toContain('wds.truncated');
  const trunc = rep.checks.find((c: { id: string }) => c.id === 'wds.truncated').examples[0];
  expect(trunc).toMatchObject({ file: 'hostile-000000.tar', member: 'h2.json' });
  expect(trunc.message).toContain(`claims ${tb} bytes`);
  expect(res.err).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  expect(res.rss_kb / 1024).toBeLessThan(600);
}, 120_000);
