/**
 * Section `push` (issue 6): push throughput to the local Hub server for a ~1 GB dataset.
 *  - first push (everything uploaded through LFS) and an unchanged re-push (0 bytes, no commit);
 *  - reference in the same run: Python `huggingface_hub.upload_folder` of the same files to the same
 *    server (the official client, plain LFS with HF_HUB_DISABLE_XET=1).
 * The server runs as its own process (`hub serve`), so the measured process is the client alone.
 */
import { spawn } from 'node:child_process';
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
    const first = measure([...cli, 'push', dataset, '--repo', 'bench/push', '--hub-url', url, '--json'], { env });
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
    try {
      python = measure([venvPython, '-c', py, dataset, second.url, TOKEN], {
        env: { HF_HUB_DISABLE_XET: '1', HF_HUB_OFFLINE: '0', HF_HUB_DISABLE_PROGRESS_BARS: '1', HF_HOME: ctx.scratch('push-hf-home') },
      });
    } finally {
      second.child.kill();
    }
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
      },
      notes: [
        `${round(pushed / 1e6, 0)} MB pushed (Parquet shards + card + manifest) to \`hub serve\` on loopback, one process each; warm page cache.`,
        'The unchanged re-push hashes nothing (sha256 from dataset-manifest.json) and asks the Hub for its tree: 0 bytes, no commit.',
      ],
    };
  } finally {
    child.kill();
  }
}
