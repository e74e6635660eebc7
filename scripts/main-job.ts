/**
 * The README's main job (`npm run main`): inspect the bundled sample export (the report a user reads
 * first; stop if it is inconsistent), convert it in every format, then
 * publish it to a local Hub server started in-process (stored under out/hub, so it survives), and
 * print how to load it from the folder and from that Hub.
 */
import { main } from '../src/cli/program.ts';
import { startHubServer } from '../src/hub/server.ts';
import { loadHint, pushDataset } from '../src/hub/push.ts';
import { HubToken } from '../src/hub/token.ts';

const OUT = 'out/sample-dataset';
const HUB_DIR = 'out/hub';
const REPO = 'nusomi/process_invoice-sample';
const TAG = 'v1';

const SAMPLE = 'samples/jsonl';

const inspected = await main(['inspect', SAMPLE]);
if (inspected !== 0) process.exit(inspected);
process.stdout.write('\n');

const code = await main([
  'convert', SAMPLE, '--out', OUT,
  '--formats', 'parquet,arrow,jsonl,webdataset',
  '--split', 'train=0.8,validation=0.1,test=0.1', '--seed', '0',
  '--repo-id', REPO,
]);
if (code !== 0) process.exit(code);

// With no tokens given, the server makes its own write token once (out/hub/token, 0600); push uses it.
const hub = await startHubServer({ dir: HUB_DIR, port: 0 });
try {
  const token = new HubToken(hub.token!, 'token file', hub.tokenFile);
  const r = await pushDataset({ dir: OUT, repo: REPO, tag: TAG, forceTag: true, hubUrl: hub.url, token, formats: ['parquet', 'webdataset'] });
  const what = r.commits.length ? `commit ${r.commit}` : `unchanged at ${r.commit}`;
  process.stdout.write([
    '',
    `pushed to the local Hub (${HUB_DIR}): ${REPO} ${what}, tag ${TAG}; ${r.uploaded_files} files / ${(r.uploaded_bytes / 1e6).toFixed(1)} MB uploaded`,
    'load it from there:',
    `  npx nusomi-hf hub serve --dir ${HUB_DIR} --port 8765 &`,
    `  ${loadHint({ ...r, hub_url: 'http://127.0.0.1:8765' })}`,
    '',
  ].join('\n'));
} finally {
  await hub.stop();
}
