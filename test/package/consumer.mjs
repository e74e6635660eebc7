// A program that uses the installed package with plain `node` (no tsx, no TypeScript): every step
// prints what it got, as one JSON object at the end. Run by test/package-install.test.ts as
// `node consumer.mjs <export> <work dir>`.
import { existsSync } from 'node:fs';
import { AbortError, convert, InputError, inspect, openExport, push, serveHub, validate } from 'nusomi-hf';

const [sample, work] = process.argv.slice(2);
const dataset = `${work}/dataset`;
let hub;

/** The steps, in order: a name and what it returns (printed). One more step is one more entry. */
const steps = [
  [
    'openExport',
    async () => {
      const exp = await openExport({ export: sample });
      let rows = 0;
      let firstFrameBytes = 0;
      for await (const step of exp) {
        if (rows++ === 0) firstFrameBytes = (await step.image.read()).byteLength;
      }
      return { export_id: exp.manifest.export_id, rows, sessions: exp.counts.sessions, first_frame_bytes: firstFrameBytes };
    },
  ],
  // Frames re-encoded: the encoder runs in worker threads started from the installed bundle.
  ['convert', () => convert({ export: sample, out: dataset, formats: ['parquet', 'webdataset'], frames: { imageFormat: 'webp', maxSide: 320 } })],
  // Every frame decoded, in the validator's worker threads.
  ['validate', () => validate({ targets: dataset, decode: 'full' })],
  [
    'serveHub',
    async () => {
      hub = await serveHub({ dir: `${work}/hub` });
      return hub;
    },
  ],
  [
    'push',
    () => push({ dir: dataset, repo: 'acme/from-node', hubUrl: hub.url, accessToken: hub.token, formats: ['parquet', 'webdataset'], tag: 'v1' }),
  ],
  [
    'abortConvert',
    async () => {
      // Aborted at its first written row: nothing may appear under the final name; a re-run completes.
      const out = `${work}/aborted`;
      const controller = new AbortController();
      const events = [];
      let thrown = null;
      try {
        await convert({
          export: sample,
          out,
          formats: ['parquet'],
          signal: controller.signal,
          onProgress: (e) => {
            events.push(e.phase);
            if (e.phase === 'write') controller.abort();
          },
        });
      } catch (err) {
        thrown = { name: err.name, isAbortError: err instanceof AbortError };
      }
      const leftBehind = existsSync(out);
      const rerun = await convert({ export: sample, out, formats: ['parquet'] });
      return { thrown, phases: [...new Set(events)], leftBehind, rerunRows: Object.values(rerun.splits).reduce((n, s) => n + s.rows, 0), rerunManifest: existsSync(`${out}/dataset-manifest.json`) };
    },
  ],
  [
    'badInput',
    async () => {
      try {
        await inspect({ export: `${work}/missing` });
        return { thrown: null };
      } catch (err) {
        return { thrown: err.name, isInputError: err instanceof InputError, file: err.file, message: err.message };
      }
    },
  ],
];

const report = {};
try {
  for (const [name, run] of steps) report[name] = await run();
} finally {
  await hub?.stop();
}
process.stdout.write(`${JSON.stringify(report)}\n`);
