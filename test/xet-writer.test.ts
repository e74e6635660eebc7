/**
 * push's Xet writer against the local Hub: it sends a shard each time enough files are done (so the
 * Hub checks them while the next files are read), each after the xorbs it names (the Hub refuses it
 * otherwise), and the files recorded that way, from disk and from memory, commit by their sha256
 * and download byte-identical.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRepo } from '@huggingface/hub';
import { startHubServer, type HubServer } from '../src/hub/server.ts';
import { XetWriter, type XetConnection } from '../src/hub/xet-writer.ts';
import { noise, testToken } from './helpers/bytes.ts';

const TOKEN = testToken();
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('XetWriter', () => {
  let tmp: string;
  let server: HubServer;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'xet-writer-'));
    server = await startHubServer({ dir: path.join(tmp, 'hub'), tokens: [{ token: TOKEN, role: 'write' }], log: () => undefined });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('sends a shard per file done (each after its xorbs) while reading on; the files commit and download byte-identical', async () => {
    const repo = 'acme/writer';
    await createRepo({ repo: { type: 'dataset', name: repo }, hubUrl: server.url, accessToken: TOKEN });
    const a = noise(900_000, 1);
    // b repeats a stretch of a (deduplicated against a's xorb) around new bytes.
    const b = Buffer.concat([noise(300_000, 2), a.subarray(100_000, 700_000), noise(200_000, 3)]);
    const c = noise(5_000_000, 4);
    const memory = noise(250_000, 5);
    const files = [
      { path: 'data/a.bin', bytes: a },
      { path: 'data/b.bin', bytes: b },
      { path: 'data/c.bin', bytes: c },
    ];
    for (const f of files) await writeFile(path.join(tmp, path.basename(f.path)), f.bytes);

    const conn = async (): Promise<XetConnection> => {
      const r = await fetch(`${server.url}/api/datasets/${repo}/xet-write-token/main`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      return (await r.json()) as XetConnection;
    };
    // The order requests start and end in, and which file was being added meanwhile.
    const events: string[] = [];
    let adding = '';
    const recording: typeof fetch = async (input, init) => {
      const what = `${init?.method ?? 'GET'} ${new URL(String(input)).pathname.replace(/[0-9a-f]{64}$/, 'H')}`;
      if (init?.method === 'POST') events.push(`start ${what} during ${adding}`);
      const res = await fetch(input, init);
      if (init?.method === 'POST') events.push(`end ${what} ${res.status}`);
      return res;
    };
    const writer = new XetWriter(conn, recording, { shardFileBytes: 1 });
    const shardsStarted = (): number => events.filter((e) => e.startsWith('start POST /_xet/v1/shards')).length;
    /** Before: the one shard went out in finish(), so none came while files were still being added. */
    const shardGoesOut = async (n: number): Promise<void> => {
      for (let i = 0; i < 200 && shardsStarted() < n; i++) await new Promise((r) => setTimeout(r, 50));
      expect(shardsStarted(), `shard ${n} was not sent before the next file`).toBe(n);
    };
    for (const [i, f] of files.entries()) {
      adding = f.path;
      await writer.addFile({
        path: f.path,
        absPath: path.join(tmp, path.basename(f.path)),
        bytes: f.bytes.length,
        sha256: sha256(f.bytes),
      });
      await shardGoesOut(i + 1);
    }
    adding = 'data/memory.bin';
    await writer.addFile({ path: adding, absPath: '', bytes: memory.length, sha256: sha256(memory), content: memory });
    adding = 'finish';
    await writer.finish();

    // One shard per file, and the Hub took each (it refuses a shard naming a xorb it does not store yet).
    expect(shardsStarted()).toBe(4);
    expect(events.filter((e) => e.startsWith('end POST /_xet/v1/shards'))).toEqual(Array(4).fill('end POST /_xet/v1/shards 200'));
    expect(writer.stats.fileBytes).toBe(a.length + b.length + c.length + memory.length);
    // b's stretch of a was not sent again.
    expect(writer.stats.newRawBytes).toBeLessThan(writer.stats.fileBytes - 500_000);

    const all = [...files, { path: 'data/memory.bin', bytes: memory }];
    const lines = [
      { key: 'header', value: { summary: 'writer files' } },
      ...all.map((f) => ({ key: 'lfsFile', value: { path: f.path, algo: 'sha256', oid: sha256(f.bytes), size: f.bytes.length } })),
    ];
    const commit = await fetch(`${server.url}/api/datasets/${repo}/commit/main`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/x-ndjson' },
      body: lines.map((l) => JSON.stringify(l)).join('\n'),
    });
    expect(commit.status, await commit.clone().text()).toBe(200);
    for (const f of all) {
      const got = await fetch(`${server.url}/datasets/${repo}/resolve/main/${f.path}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(got.status).toBe(200);
      expect(sha256(new Uint8Array(await got.arrayBuffer())), f.path).toBe(sha256(f.bytes));
    }
  }, 60_000);
});
