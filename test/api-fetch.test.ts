/**
 * The public functions send their https and Hub requests through the `fetch` they are given: an
 * export on a host that does not exist converts through a fetch that serves it from disk, and a
 * push and a loaders run against the local Hub go through a fetch that counts what it forwards.
 */
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert, generateLoaders, inspect, push, RemoteError, serveHub } from '../src/index.ts';
import type { ServedHub } from '../src/index.ts';
import { SAMPLE } from './convert-fixtures.ts';

/** `.invalid` never resolves (RFC 2606): only the injected fetch can reach this export. */
const EXPORT_URL = 'https://exports.invalid/exp_01/manifest.json?sig=abc';
let work: string;
let served: string;
let hub: ServedHub;

const urlOf = (input: string | URL | Request): URL =>
  new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);

/** Serves `served/` at https://exports.invalid/exp_01/, with byte ranges, and records each path asked for. */
function diskFetch(asked: string[]): typeof fetch {
  return async (input, init) => {
    const url = urlOf(input);
    asked.push(url.pathname);
    if (url.host !== 'exports.invalid' || !url.pathname.startsWith('/exp_01/')) return new Response(null, { status: 404 });
    let bytes: Buffer;
    try {
      bytes = await readFile(path.join(served, decodeURIComponent(url.pathname.slice('/exp_01/'.length))));
    } catch {
      return new Response(null, { status: 404 });
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(new Headers(init?.headers).get('range') ?? '');
    if (!range) return new Response(new Uint8Array(bytes), { status: 200, headers: { 'content-length': String(bytes.byteLength) } });
    const start = Number(range[1]);
    const end = range[2] ? Math.min(Number(range[2]), bytes.byteLength - 1) : bytes.byteLength - 1;
    return new Response(new Uint8Array(bytes.subarray(start, end + 1)), {
      status: 206,
      headers: { 'content-range': `bytes ${start}-${end}/${bytes.byteLength}`, 'content-length': String(end - start + 1) },
    });
  };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'api-fetch-'));
  served = path.join(work, 'served');
  await cp(SAMPLE, served, { recursive: true });
  // Over https an export cannot be listed: its manifest names its data files.
  const manifest = JSON.parse(await readFile(path.join(served, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  const data = (await readdir(path.join(served, 'data'))).sort().map((f) => `data/${f}`);
  manifest.files = await Promise.all(
    data.map(async (p) => {
      const b = await readFile(path.join(served, p));
      return { path: p, bytes: b.byteLength, sha256: createHash('sha256').update(b).digest('hex') };
    }),
  );
  await writeFile(path.join(served, 'manifest.json'), JSON.stringify(manifest));
  hub = await serveHub({ dir: path.join(work, 'hub') });
});

afterAll(async () => {
  await hub?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('an injected fetch', () => {
  it('reads an https export: inspect and convert give what the local export gives', async () => {
    const asked: string[] = [];
    const report = await inspect({ export: EXPORT_URL, fetch: diskFetch(asked) });
    expect(report).toMatchObject({ consistent: true, rows: 77 });
    expect(asked).toContain('/exp_01/manifest.json');

    asked.length = 0;
    const remote = await convert({ export: EXPORT_URL, out: path.join(work, 'remote'), fetch: diskFetch(asked) });
    const local = await convert({ export: SAMPLE, out: path.join(work, 'local') });
    expect(remote.data_files).toEqual(local.data_files);
    expect(remote.splits).toEqual(local.splits);
    // The frames came through it too (passthrough copies their bytes into the dataset).
    expect(asked.some((p) => /\.(webp|png|jpe?g)$/.test(p))).toBe(true);
  });

  it('carries every Hub request of push and generateLoaders', async () => {
    const dataset = path.join(work, 'local');
    const hosts = new Set<string>();
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls++;
      hosts.add(urlOf(input).origin);
      return fetch(input, init);
    };
    const pushed = await push({ dir: dataset, repo: 'acme/fetched', hubUrl: hub.url, accessToken: hub.token, fetch: counting });
    expect(pushed.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(calls).toBeGreaterThan(3);
    expect([...hosts]).toEqual([hub.url]);

    const before = calls;
    const loaders = await generateLoaders({ dataset: 'acme/fetched', out: path.join(work, 'loaders'), hubUrl: hub.url, fetch: counting });
    expect(loaders.origin).toMatchObject({ kind: 'hub', repo: 'acme/fetched', revision: pushed.commit });
    expect(calls).toBeGreaterThan(before);
  });

  it('a refused token is a RemoteError whose hint says what to do, and never shows the token', async () => {
    const wrong = `hf_${'x'.repeat(30)}`;
    const err = await push({ dir: path.join(work, 'local'), repo: 'acme/refused', hubUrl: hub.url, accessToken: wrong }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RemoteError);
    const e = err as RemoteError;
    expect(e.message).toMatch(/rejected the token from the accessToken parameter \(HTTP 401\)/);
    expect(e.hint).toMatch(/^set HF_TOKEN to a valid token/);
    expect(e.message.endsWith(e.hint!)).toBe(true);
    expect(JSON.stringify({ message: e.message, hint: e.hint })).not.toContain(wrong);
  });
});
