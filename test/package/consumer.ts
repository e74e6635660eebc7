// A TypeScript program against the installed package's declarations, compiled with `tsc --strict`
// by test/package-install.test.ts. Each `@ts-expect-error` must be an error: if a type were `any`
// or an internal module importable, the directive itself would fail the compile.
import {
  convert,
  generateLoaders,
  IntegrityError,
  InputError,
  inspect,
  NusomiError,
  openExport,
  push,
  RemoteError,
  serveHub,
  UsageError,
  validate,
} from 'nusomi-hf';
import type { ConvertParams, ConvertSummary, InspectReport, PushProgressEvent, PushSummary, Step, ValidationReport } from 'nusomi-hf';
// @ts-expect-error internal modules are not part of the package's exports
import type { ConvertOptions } from 'nusomi-hf/src/convert/convert.ts';

export async function pipeline(exportUrl: string, out: string): Promise<string> {
  const params: ConvertParams = {
    export: exportUrl,
    out,
    formats: ['parquet', 'webdataset'],
    split: { split: 'train=0.9,test=0.1' },
    fetch: globalThis.fetch,
  };
  const summary: ConvertSummary = await convert(params);
  const rows: number = Object.values(summary.splits).reduce((n, s) => n + s.rows, 0);
  const report: ValidationReport = await validate({ targets: [out], decode: 'full' });
  if (!report.clean) throw new Error(`${report.errors} errors`);
  const hub = await serveHub({ dir: `${out}-hub` });
  const events: PushProgressEvent['phase'][] = [];
  const pushed: PushSummary = await push({
    dir: out,
    repo: 'acme/ts',
    hubUrl: hub.url,
    accessToken: hub.token,
    onProgress: (e) => events.push(e.phase),
  });
  await hub.stop();
  const exp = await openExport({ export: exportUrl, onError: 'skip' });
  let last = 0;
  for await (const step of exp) {
    const s: Step = step;
    last = s.t_ms;
  }
  const inspected: InspectReport = await inspect({ export: exportUrl, limits: { maxJsonDepth: 64 } });
  const loaders = await generateLoaders({ dataset: out, out: `${out}-loaders`, targets: ['hf'] });
  return `${rows} ${pushed.commit ?? ''} ${inspected.consistent} ${loaders.files.join(',')} ${last} ${events.length}`;
}

export function describe(err: unknown): string {
  if (err instanceof IntegrityError) return `integrity: ${err.file ?? ''}`;
  if (err instanceof InputError) return `input: ${err.file ?? ''} ${err.row ?? ''} ${err.member ?? ''} ${err.hint ?? ''}`;
  if (err instanceof UsageError) return `usage: ${err.message}`;
  if (err instanceof RemoteError) return `remote: ${err.message}`;
  if (err instanceof NusomiError) return `exit ${err.exitCode}`;
  return String(err);
}

export async function misuse(): Promise<ConvertOptions | undefined> {
  // @ts-expect-error `export` is required
  await convert({ out: 'x' });
  // @ts-expect-error formats are the known names, not any string
  await convert({ export: 'a', out: 'b', formats: ['csv'] });
  // @ts-expect-error results are typed, not any
  const rows: string = (await inspect({ export: 'a' })).rows;
  // @ts-expect-error validate's decode is 'header' or 'full'
  await validate({ targets: 'a', decode: 'pixels' });
  return rows ? undefined : undefined;
}
