/**
 * The README's main job (`npm run main`): inspect the bundled sample export (the report a user reads
 * first; stop if it is inconsistent), convert it in every format, write the HTML report of the
 * dataset (out/sample-report/index.html), then
 * publish it to a local Hub server started in-process (stored under out/hub, so it survives), and
 * print the commands that load it from the folder and from that Hub, in the order to run them.
 *
 * Every printed command works as pasted from the repo root, one after the other: the first one
 * makes .venv (the Python with `datasets`) and returns at once when it is already there.
 * NUSOMI_HF_HUB_PORT sets the port of the printed `hub serve` (default 8765).
 */
import { main } from '../src/cli/program.ts';
import { humanSummary } from '../src/cli/convert.ts';
import { convert } from '../src/convert/convert.ts';
import { convertSummary } from '../src/convert/summary.ts';
import { startHubServer } from '../src/hub/server.ts';
import { loadHint, pushDataset } from '../src/hub/push.ts';
import { HubToken } from '../src/hub/token.ts';
import { plural } from '../src/plural.ts';
import { buildReport } from '../src/report/report.ts';

const OUT = 'out/sample-dataset';
const REPORT = 'out/sample-report';
const HUB_DIR = 'out/hub';
const REPO = 'nusomi/process_invoice-sample';
const TAG = 'v1';
const PYTHON = '.venv/bin/python';
const HUB_PORT = Number(process.env.NUSOMI_HF_HUB_PORT || 8765);

const SAMPLE = 'samples/jsonl';

const inspected = await main(['inspect', SAMPLE]);
if (inspected !== 0) process.exit(inspected);
process.stdout.write('\n');

const result = await convert({
  input: SAMPLE,
  out: OUT,
  formats: ['parquet', 'arrow', 'jsonl', 'webdataset'],
  split: { split: 'train=0.8,validation=0.1,test=0.1', seed: '0' },
  filters: {},
  frames: {},
  wds: {},
  onError: 'stop',
  repoId: REPO,
});
for (const w of result.warnings) process.stderr.write(`nusomi-hf: warning: ${w}\n`);
process.stdout.write(humanSummary(convertSummary(result), { hints: false }));

// The HTML report of the dataset (overview, click heatmaps, gallery, session player): open it from disk.
const report = await buildReport({ target: OUT, out: REPORT, hubUrl: '' });
process.stdout.write(
  `\nreport of ${OUT} (${plural(report.frames_sampled, 'frame')} sampled, ${(report.bytes / 1e6).toFixed(1)} MB): ${REPORT}/index.html\n`,
);

// With no tokens given, the server makes its own write token once (out/hub/token, 0600); push uses it.
const hub = await startHubServer({ dir: HUB_DIR, port: 0 });
try {
  const token = new HubToken(hub.token!, 'token file', hub.tokenFile);
  const r = await pushDataset({
    dir: OUT,
    repo: REPO,
    tag: TAG,
    forceTag: true,
    hubUrl: hub.url,
    token,
    formats: ['parquet', 'webdataset'],
  });
  const what = r.commits.length ? `commit ${r.commit}` : `unchanged at ${r.commit}`;
  process.stdout.write(
    [
      '',
      `pushed to the local Hub (${HUB_DIR}): ${REPO} ${what}, tag ${TAG}; ${plural(r.uploaded_files, 'file')} / ${(r.uploaded_bytes / 1e6).toFixed(1)} MB uploaded`,
      '',
      'load it (run these from the repo root, one after the other):',
      `  bash scripts/python-env.sh   # once: makes .venv with datasets, pyarrow, torch (minutes); instant when it is there`,
      `  ${PYTHON} -c 'from datasets import load_dataset; print(load_dataset("${OUT}"))'`,
      `  ${PYTHON} -c 'from datasets import load_from_disk; print(load_from_disk("${OUT}/arrow"))'`,
      `  npx nusomi-hf hub serve --dir ${HUB_DIR} --port ${HUB_PORT} &   # the local Hub again, in the background`,
      `  ${loadHint({ ...r, hub_url: `http://127.0.0.1:${HUB_PORT}` }, PYTHON)}`,
      '',
    ].join('\n'),
  );
} finally {
  await hub.stop();
}
