/**
 * Every CLI subcommand is a thin layer over the public function of the same name: for the same
 * params, `--json` prints exactly what the function returns (src/index.ts, the package's entry point).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  convert,
  convertPartition,
  finalizeConvert,
  generateLoaders,
  inspect,
  planConvert,
  push,
  report,
  serveHub,
  validate,
} from '../src/index.ts';
import type { ServedHub } from '../src/index.ts';
import { cliOk, finished, runCli, spawnCli } from './helpers/cli.ts';
import { testToken } from './helpers/bytes.ts';
import { SAMPLE } from './convert-fixtures.ts';

const TOKEN = testToken();
let work: string;
let hub: ServedHub;
let otherHub: ServedHub;
/** A converted dataset every later command reads. */
let dataset: string;

/** The CLI's stdout as JSON, from the CLI as users run it. */
async function cliJson(args: string[], env: Record<string, string | undefined> = {}): Promise<unknown> {
  return JSON.parse((await cliOk([...args, '--json'], env)).stdout);
}

/** What a program sees after printing a result: plain data, as `--json` would print it. */
const asPrinted = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'api-cli-json-'));
  hub = await serveHub({ dir: path.join(work, 'hub'), tokens: [{ token: TOKEN, role: 'write' }] });
  otherHub = await serveHub({ dir: path.join(work, 'other-hub'), tokens: [{ token: TOKEN, role: 'write' }] });
  dataset = path.join(work, 'dataset');
  await convert({ export: SAMPLE, out: dataset, formats: ['parquet', 'webdataset'] });
});

afterAll(async () => {
  await Promise.all([hub?.stop(), otherHub?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

describe('--json prints the public function result', () => {
  it('inspect', async () => {
    const fromCli = await cliJson(['inspect', SAMPLE, '--max-json-depth', '64']);
    expect(fromCli).toEqual(asPrinted(await inspect({ export: SAMPLE, limits: { maxJsonDepth: 64 } })));
    expect(fromCli).toMatchObject({ export: SAMPLE, consistent: true, rows: 77 });
  });

  it('convert', async () => {
    // One output for both: the second run replaces the first, and `out` is in the result.
    const out = path.join(work, 'converted');
    const fromCli = await cliJson(['convert', SAMPLE, '-o', out, '--formats', 'parquet,jsonl', '--split', 'train=0.5,test=0.5']);
    const fromApi = await convert({ export: SAMPLE, out, formats: ['parquet', 'jsonl'], split: { split: 'train=0.5,test=0.5' } });
    expect(fromCli).toEqual(asPrinted(fromApi));
    expect(Object.keys(fromApi.splits).sort()).toEqual(['test', 'train']);
    expect(fromApi.data_files.length + 2).toBe(fromApi.files);
  });

  it('convert: --world-size and --workers plan the WebDataset shards in the function too', async () => {
    const out = path.join(work, 'wds');
    const args = ['convert', SAMPLE, '-o', out, '--formats', 'webdataset', '--world-size', '2', '--workers', '2'];
    const fromCli = (await cliJson(args)) as { data_files: Array<{ path: string }> };
    const fromApi = await convert({ export: SAMPLE, out, formats: ['webdataset'], wds: { worldSize: 2, workers: 2 } });
    expect(fromCli).toEqual(asPrinted(fromApi));
    // 2 ranks x 2 workers: at least 4 shards in the train split.
    expect(fromApi.data_files.filter((f) => f.path.startsWith('webdataset/train-')).length).toBeGreaterThanOrEqual(4);
  });

  it('convert --plan-only, --partition i/N, --finalize: planConvert, convertPartition, finalizeConvert', async () => {
    // The same steps into two outputs, one by the CLI and one by the functions: the same results but
    // for the output's name (in `out` and in the plan's place beside it).
    const [outCli, outApi] = [path.join(work, 'parts-cli'), path.join(work, 'parts-api')];
    const args = (out: string) => ['convert', SAMPLE, '-o', out, '--formats', 'parquet,webdataset'];
    const params = { export: SAMPLE, formats: ['parquet' as const, 'webdataset' as const] };
    const same = (fromCli: unknown, fromApi: unknown) =>
      expect(JSON.stringify(fromCli).replaceAll('parts-cli', 'parts-X')).toBe(
        JSON.stringify(asPrinted(fromApi)).replaceAll('parts-api', 'parts-X'),
      );
    same(await cliJson([...args(outCli), '--plan-only']), await planConvert({ ...params, out: outApi }));
    for (const index of [0, 1]) {
      same(
        await cliJson([...args(outCli), '--partition', `${index}/2`]),
        await convertPartition({ ...params, out: outApi, partition: { index, count: 2 } }),
      );
    }
    const fromApi = await finalizeConvert({ ...params, out: outApi });
    same(await cliJson([...args(outCli), '--finalize']), fromApi);
    expect(fromApi.data_files.length + 2).toBe(fromApi.files);
  });

  it('validate', async () => {
    const fromCli = await cliJson(['validate', dataset, '--world-size', '2']);
    const fromApi = await validate({ targets: [dataset], worldSize: 2 });
    expect(fromCli).toEqual(asPrinted(fromApi));
    expect(fromApi).toMatchObject({ kind: 'dataset', errors: 0 });
    expect(fromApi.stats).toMatchObject({ rows: 77, frames: 77 });
    expect(Object.keys(fromApi.stats.by_format).sort()).toEqual(['parquet', 'webdataset']);
  });

  it('report', async () => {
    // One output for both: a report replaces an earlier report, and `out` is in the result.
    const out = path.join(work, 'report');
    const fromCli = await cliJson(['report', dataset, '-o', out, '--max-frames', '20', '--no-validate']);
    const fromApi = await report({ target: dataset, out, maxFrames: 20, validate: false });
    expect(fromCli).toEqual(asPrinted(fromApi));
    expect(fromApi).toMatchObject({ kind: 'dataset', rows: 77, sessions: 8 });
    expect(fromApi.frames_sampled).toBeGreaterThan(0);
  });

  it('push (a dry run, then a real push of each)', async () => {
    const env = { HF_TOKEN: TOKEN, HF_ENDPOINT: undefined, HF_HOME: path.join(work, 'home') };
    const args = ['push', dataset, '--hub-url', hub.url, '--formats', 'parquet,webdataset', '--tag', 'v1'];
    const dry = await cliJson([...args, '--repo', 'acme/dry', '--dry-run'], env);
    const dryApi = await push({
      dir: dataset,
      repo: 'acme/dry',
      hubUrl: hub.url,
      formats: ['parquet', 'webdataset'],
      tag: 'v1',
      dryRun: true,
      accessToken: TOKEN,
    });
    expect(dry).toEqual(asPrinted(dryApi));
    expect(dryApi.plan?.add.length).toBeGreaterThan(0);

    // A Hub of its own for each, so neither finds the other's files: only the repo, its commits
    // and the Hub's URL differ.
    const fromCli = (await cliJson([...args, '--repo', 'acme/cli'], env)) as Record<string, unknown>;
    const fromApi = await push({
      dir: dataset,
      repo: 'acme/api',
      hubUrl: otherHub.url,
      formats: ['parquet', 'webdataset'],
      tag: 'v1',
      accessToken: TOKEN,
    });
    expect(fromApi.commit).toMatch(/^[0-9a-f]{40}$/);
    const sameRepo = { repo: fromApi.repo, commit: fromApi.commit, commits: fromApi.commits, hub_url: otherHub.url };
    expect({ ...fromCli, ...sameRepo }).toEqual(asPrinted(fromApi));
    expect(fromCli.repo).toBe('acme/cli');
    expect(fromApi).toMatchObject({ created_repo: true, tag: 'v1', hub_url: otherHub.url });
    expect(fromApi.uploaded_files).toBeGreaterThan(4);
  });

  it('loaders', async () => {
    const out = path.join(work, 'loaders');
    const fromCli = await cliJson(['loaders', dataset, '-o', out, '--targets', 'hf,torch-wds']);
    const fromApi = await generateLoaders({ dataset, out, targets: ['hf', 'torch-wds'] });
    expect(fromCli).toEqual(asPrinted(fromApi));
    expect(fromApi.targets).toEqual(['hf', 'torch-wds']);
    // A bad target is a usage error from the function, with the CLI's message.
    await expect(generateLoaders({ dataset, out, targets: ['nope' as 'hf'] })).rejects.toThrow(/--targets: unknown target "nope"/);
    expect((await runCli(['loaders', dataset, '-o', out, '--targets', 'nope'])).code).toBe(2);
  });

  it('hub serve', async () => {
    const dir = path.join(work, 'served');
    const child = spawnCli(['hub', 'serve', '--dir', dir, '--json']);
    const first = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
      });
      child.on('exit', (code) => reject(new Error(`hub serve exited ${code}`)));
    });
    const run = finished(child);
    child.kill('SIGTERM');
    expect((await run).code).toBe(0);
    const fromCli = JSON.parse(first) as { port: number; token_file: string };
    // The same storage on the port the CLI had: the same server, as the function describes it.
    const served = await serveHub({ dir, port: fromCli.port });
    try {
      expect(fromCli).toEqual(asPrinted(served));
      expect(fromCli.token_file).toBe(path.join(dir, 'token'));
      // The token is never printed, but a program can read it.
      expect(first).not.toContain('hf_');
      expect(served.token).toMatch(/^hf_/);
    } finally {
      await served.stop();
    }
  });
});
