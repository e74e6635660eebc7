/**
 * push over Xet to the local Hub: a new version that shares its frames with the last one sends
 * only the difference (measured by push and counted by the server), and both official clients
 * read what push uploaded back byte-identical.
 */
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFile } from '@huggingface/hub';
import { startHubServer, type HubServer } from '../src/hub/server.ts';
import { testToken } from './helpers/bytes.ts';
import { finished, runCli, spawnScript } from './helpers/cli.ts';
import { runPython } from './helpers/python.ts';

const TOKEN = testToken();
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

interface Summary {
  commit: string;
  uploaded_bytes: number;
  transfer: string | null;
  sent_bytes: number;
  deduplicated_bytes: number;
  skipped_bytes: number;
}

/** The export without every 11th session (sorted ids): v1, when the full export is v2 (v2 = v1 + 10% sessions). */
async function dropSessions(src: string, out: string): Promise<void> {
  await cp(src, out, { recursive: true });
  const dataDir = path.join(out, 'data');
  const files = (await readdir(dataDir)).filter((f) => f.endsWith('.jsonl')).sort();
  const sessionOf = (l: string): string => (JSON.parse(l) as { session_id: string }).session_id;
  const ids = new Set<string>();
  for (const f of files) for (const l of (await readFile(path.join(dataDir, f), 'utf8')).split('\n')) if (l) ids.add(sessionOf(l));
  const drop = new Set([...ids].sort().filter((_, i) => i % 11 === 10));
  let rows = 0;
  for (const f of files) {
    const keep = (await readFile(path.join(dataDir, f), 'utf8')).split('\n').filter((l) => l && !drop.has(sessionOf(l)));
    rows += keep.length;
    await writeFile(path.join(dataDir, f), `${keep.join('\n')}\n`);
  }
  for (const id of drop) await rm(path.join(out, 'frames', id), { recursive: true, force: true });
  const m = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  for (const k of ['rows', 'frames', 'actions']) if (k in m) m[k] = rows;
  await writeFile(path.join(out, 'manifest.json'), JSON.stringify(m, null, 2));
}

/** Bytes of a dataset dir's data files. */
async function dataBytes(dir: string): Promise<number> {
  let n = 0;
  for (const f of await readdir(path.join(dir, 'data'))) n += (await stat(path.join(dir, 'data', f))).size;
  return n;
}

describe('push over Xet', () => {
  let tmp: string;
  let hub: HubServer;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'push-xet-'));
    hub = await startHubServer({ dir: path.join(tmp, 'hub'), tokens: [{ token: TOKEN, role: 'write' }] });
  });
  afterAll(async () => {
    await hub?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  const push = async (dir: string, tag: string): Promise<Summary> => {
    const r = await runCli(['push', dir, '--repo', 'acme/versions', '--hub-url', hub.url, '--tag', tag, '--json'], { HF_TOKEN: TOKEN });
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Summary;
  };

  it('v2 (v1 + 10% new sessions, --labels-from v1) sends at most 20% of its bytes; push and server agree; both clients read it back', async () => {
    // Frames of ~150 KB (larger than a chunk), as real captures are.
    const full = path.join(tmp, 'export-v2');
    const gen = await finished(
      spawnScript('scripts/make-samples.ts', ['--sessions', '22', '--steps', '5', '--format', 'jsonl', '--out', full]),
    );
    expect(gen.code, gen.stderr).toBe(0);
    await dropSessions(full, path.join(tmp, 'export-v1'));
    const v1 = path.join(tmp, 'v1');
    const v2 = path.join(tmp, 'v2');
    for (const [src, out, extra] of [
      [path.join(tmp, 'export-v1'), v1, []],
      [full, v2, ['--labels-from', path.join(v1, 'dataset-manifest.json')]],
    ] as const) {
      const r = await runCli(['convert', src, '--out', out, ...extra]);
      expect(r.code, r.stderr).toBe(0);
    }

    const s0 = hub.stats();
    const first = await push(v1, 'v1');
    expect(first.transfer).toBe('xet');
    const s1 = hub.stats();
    const second = await push(v2, 'v2');
    const s2 = hub.stats();
    const inline = async (rev: string) => {
      let n = 0;
      for (const f of ['README.md', 'dataset-manifest.json']) {
        n += Number(
          (await fetch(`${hub.url}/datasets/acme/versions/resolve/${rev}/${f}`, { method: 'HEAD' })).headers.get('content-length'),
        );
      }
      return n;
    };
    // What push reports as sent is what the server received (Xet bodies) plus the inline card and manifest.
    expect(first.sent_bytes).toBe(s1.xetBytesReceived - s0.xetBytesReceived + (await inline('v1')));
    expect(second.sent_bytes).toBe(s2.xetBytesReceived - s1.xetBytesReceived + (await inline('v2')));
    expect(s2.lfsBytesReceived).toBe(s0.lfsBytesReceived);
    // v2 as published: its data files, and the card and manifest push made for the repo.
    const v2Bytes = (await dataBytes(v2)) + (await inline('v2'));
    expect(second.uploaded_bytes + second.skipped_bytes).toBe(v2Bytes);
    expect(second.sent_bytes / v2Bytes).toBeLessThanOrEqual(0.2);
    expect(second.deduplicated_bytes).toBeGreaterThan(second.uploaded_bytes / 2);

    // Both clients read v2 back byte-identical: Python through hf_xet, JS through the CAS.
    const parquet = (await readdir(path.join(v2, 'data'))).filter((f) => f.endsWith('.parquet')).sort();
    const py = await runPython<Record<string, string>>(
      `
import hashlib, json, os
from huggingface_hub import snapshot_download
snap = snapshot_download('acme/versions', repo_type='dataset', revision='v2')
out = {}
for root, _, names in os.walk(snap):
    for n in names:
        p = os.path.join(root, n)
        out[os.path.relpath(p, snap)] = hashlib.sha256(open(p, 'rb').read()).hexdigest()
print(json.dumps(out))
`,
      {
        env: {
          HF_ENDPOINT: hub.url,
          HF_TOKEN: TOKEN,
          HF_HOME: path.join(tmp, 'py-home'),
          HF_HUB_OFFLINE: '0',
          HF_HUB_DISABLE_PROGRESS_BARS: '1',
        },
      },
    );
    for (const f of parquet) {
      const local = sha256(await readFile(path.join(v2, 'data', f)));
      expect(py[`data/${f}`], f).toBe(local);
      const blob = await downloadFile({
        repo: { type: 'dataset', name: 'acme/versions' },
        path: `data/${f}`,
        revision: 'v2',
        hubUrl: hub.url,
        accessToken: TOKEN,
      });
      expect(sha256(new Uint8Array(await blob!.arrayBuffer())), f).toBe(local);
    }
  }, 600_000);
});
