/**
 * Section `push` (issues 6, 19): push throughput to the local Hub server for a ~1 GB dataset.
 *  - first push (over Xet, which the server offers) and an unchanged re-push (0 bytes, no commit);
 *  - reference in the same run: Python `huggingface_hub.upload_folder` of the same files to the same
 *    kind of server (the official client in its default install: Xet through hf_xet);
 *  - a new version: v1 is the export without a tenth of its sessions, v2 the whole export converted
 *    with `--labels-from` v1; the bytes push sends for v2 after v1, against v2's size.
 * The server runs as its own process (`hub serve`), so the measured process is the client alone.
 */
import { spawn } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { cli, measure, round, row, run as runCommand, venvPython } from './lib.ts';
import type { Measured } from './lib.ts';
import type { BenchContext, Section } from './run.ts';

/** 7,000 steps of ~150 KB frames ≈ 1 GB of Parquet. */
const SESSIONS = Number(process.env.NUSOMI_BENCH_PUSH_SESSIONS ?? 140);
const STEPS = 50;
const TOKEN = 'hf_bench_local_token';

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuOf(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startServer(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(cli[0]!, [...cli.slice(1), 'hub', 'serve', '--dir', dir, '--port', String(port), '--token', TOKEN], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${url}/api/whoami-v2`, { headers: { authorization: `Bearer ${TOKEN}` } });
      if (r.ok) return { url, child };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error('hub serve did not start');
}

interface PushSummary {
  uploaded_bytes: number;
  sent_bytes: number;
  deduplicated_bytes: number;
  skipped_bytes: number;
}

/** A copy of a JSON Lines export without `fraction` of its sessions (spread over the sorted ids). */
function dropSessions(src: string, out: string, fraction: number): void {
  rmSync(out, { recursive: true, force: true });
  cpSync(src, out, { recursive: true });
  const dataDir = path.join(out, 'data');
  const files = readdirSync(dataDir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort();
  const ids = new Set<string>();
  const sessionOf = (line: string): string => (JSON.parse(line) as { session_id: string }).session_id;
  for (const f of files) for (const l of readFileSync(path.join(dataDir, f), 'utf8').split('\n')) if (l) ids.add(sessionOf(l));
  const sorted = [...ids].sort();
  const every = Math.max(1, Math.round(1 / fraction));
  const drop = new Set(sorted.filter((_, i) => i % every === every - 1));
  let rows = 0;
  for (const f of files) {
    const keep = readFileSync(path.join(dataDir, f), 'utf8')
      .split('\n')
      .filter((l) => l && !drop.has(sessionOf(l)));
    rows += keep.length;
    writeFileSync(path.join(dataDir, f), `${keep.join('\n')}\n`);
  }
  for (const id of drop) rmSync(path.join(out, 'frames', id), { recursive: true, force: true });
  const m = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  for (const k of ['rows', 'frames', 'actions']) if (k in m) m[k] = rows;
  writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(m, null, 2));
}

export async function run(ctx: BenchContext): Promise<Section> {
  const exp = ctx.ensureExport({ sessions: SESSIONS, steps: STEPS, format: 'jsonl' });
  const dataset = ctx.scratch('push-dataset');
  ctx.log(`converting ${exp.rows} rows to Parquet for the push bench (untimed)`);
  runCommand([...cli, 'convert', exp.dir, '--out', dataset, '--formats', 'parquet', '--split', 'train=1']);
  const pushed =
    ctx.sizeOf(path.join(dataset, 'data')) +
    ctx.sizeOf(path.join(dataset, 'README.md')) +
    ctx.sizeOf(path.join(dataset, 'dataset-manifest.json'));

  const hubDir = ctx.scratch('push-hub');
  const { url, child } = await startServer(hubDir);
  const env = { HF_TOKEN: TOKEN, HF_ENDPOINT: url };
  try {
    ctx.prepareCache();
    ctx.log(`first push of ${round(pushed / 1e6, 0)} MB`);
    const serverBefore = cpuOf(child.pid);
    const first = measure([...cli, 'push', dataset, '--repo', 'bench/push', '--hub-url', url, '--json'], { env });
    const pushServerCpu = cpuOf(child.pid) - serverBefore;
    ctx.log('unchanged re-push');
    const again = measure([...cli, 'push', dataset, '--repo', 'bench/push', '--hub-url', url, '--json'], { env });
    const summary = JSON.parse(runCommand([...cli, 'push', dataset, '--repo', 'bench/push', '--hub-url', url, '--json'], { env })) as {
      uploaded_bytes: number;
    };
    if (summary.uploaded_bytes !== 0) throw new Error(`an unchanged re-push uploaded ${summary.uploaded_bytes} bytes`);

    ctx.log('reference: huggingface_hub.upload_folder to a new repo on the same server');
    const py = `
import sys
from huggingface_hub import HfApi
api = HfApi(endpoint=sys.argv[2], token=sys.argv[3])
api.create_repo("bench/push-python", repo_type="dataset", exist_ok=True)
api.upload_folder(folder_path=sys.argv[1], repo_id="bench/push-python", repo_type="dataset", allow_patterns=["data/*", "README.md", "dataset-manifest.json"])
`;
    // The server stores objects once by sha256 across repos: give Python a fresh server so it uploads everything.
    child.kill();
    const hubDir2 = ctx.scratch('push-hub-python');
    const second = await startServer(hubDir2);
    let python: Measured;
    let pythonServerCpu: number;
    try {
      const before = cpuOf(second.child.pid);
      python = measure([venvPython, '-c', py, dataset, second.url, TOKEN], {
        env: { HF_HUB_OFFLINE: '0', HF_HUB_DISABLE_PROGRESS_BARS: '1', HF_HOME: ctx.scratch('push-hf-home') },
      });
      pythonServerCpu = cpuOf(second.child.pid) - before;
    } finally {
      second.child.kill();
    }

    ctx.log('new version: v1 = export less a tenth of its sessions, v2 = the whole export (--labels-from v1)');
    const v1Export = ctx.scratch('push-export-v1');
    dropSessions(exp.dir, v1Export, 0.1);
    const v1 = ctx.scratch('push-v1');
    runCommand([...cli, 'convert', v1Export, '--out', v1, '--formats', 'parquet', '--split', 'train=1']);
    const v2 = ctx.scratch('push-v2');
    runCommand([
      ...cli,
      'convert',
      exp.dir,
      '--out',
      v2,
      '--formats',
      'parquet',
      '--split',
      'train=1',
      '--labels-from',
      path.join(v1, 'dataset-manifest.json'),
    ]);
    const third = await startServer(ctx.scratch('push-hub-versions'));
    let versions: { v1: PushSummary; v2: PushSummary };
    try {
      const pushVersion = (dir: string): PushSummary =>
        JSON.parse(
          runCommand([...cli, 'push', dir, '--repo', 'bench/versions', '--hub-url', third.url, '--json'], {
            env: { HF_TOKEN: TOKEN, HF_ENDPOINT: third.url },
          }),
        ) as PushSummary;
      versions = { v1: pushVersion(v1), v2: pushVersion(v2) };
    } finally {
      third.child.kill();
    }
    const v2Bytes = versions.v2.uploaded_bytes + versions.v2.skipped_bytes;
    const rows = [
      row('push', 'nusomi-hf push (first)', first, exp.rows, pushed),
      row('push', 'nusomi-hf push (unchanged re-push)', again, exp.rows, pushed),
      row('push', 'huggingface_hub upload_folder', python, exp.rows, pushed),
    ];
    return {
      rows,
      ratios: {
        'MB/s first push ÷ huggingface_hub upload_folder': round(python.seconds / first.seconds),
        'seconds unchanged re-push ÷ first push': round(again.seconds / first.seconds, 3),
        'bytes sent for v2 after v1 ÷ v2 bytes': round(versions.v2.sent_bytes / v2Bytes, 3),
        'bytes sent for v2 ÷ bytes sent for v1': round(versions.v2.sent_bytes / versions.v1.sent_bytes, 3),
      },
      notes: [
        `${round(pushed / 1e6, 0)} MB pushed (Parquet shards + card + manifest) to \`hub serve\` on loopback, one process each; warm page cache.`,
        'The unchanged re-push hashes nothing (sha256 from dataset-manifest.json) and asks the Hub for its tree: 0 bytes, no commit.',
        `CPU seconds, client + the server's share: push ${round(first.cpuSeconds ?? 0, 1)} + ${round(pushServerCpu, 1)}, ` +
          `upload_folder ${round(python.cpuSeconds ?? 0, 1)} + ${round(pythonServerCpu, 1)}. The server's share is mostly its shard check ` +
          '(every file rebuilt from the stored xorbs and its sha256 compared), the same work for both clients: push sends a shard per ' +
          '64 MiB of files, so the server checks them while push reads on; upload_folder sends its shards after all xorbs. push names ' +
          "files in the commit by the manifest's sha256 (checked while chunking), so nothing is hashed twice. " +
          'On a busy machine wall times follow total CPU and the ratio nears 1; on an idle one the overlap counts.',
        'The synthetic frames repeat across sessions: about 97% of the bytes deduplicate within the first push, so this measures ' +
          'chunking, hashing and the shard check rather than bytes on the wire.',
        `Both clients upload over Xet (push: its own writer; upload_folder: hf_xet). v1 push sent ${round(versions.v1.sent_bytes / 1e6, 1)} MB; ` +
          `v2 (${round(v2Bytes / 1e6, 1)} MB, +10% sessions) after it sent ${round(versions.v2.sent_bytes / 1e6, 1)} MB ` +
          `(${round(versions.v2.deduplicated_bytes / 1e6, 1)} MB deduplicated, ${round(versions.v2.skipped_bytes / 1e6, 1)} MB of unchanged files skipped).`,
      ],
    };
  } finally {
    child.kill();
  }
}
