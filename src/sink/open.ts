/** Open an output root from what the user wrote: a local path, `file://` URL, `s3://` or `az://`. */
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.ts';
import { LocalSink } from './local.ts';
import type { Sink } from './types.ts';
import { urlScheme } from '../util/url-scheme.ts';

export async function openSink(root: string): Promise<Sink> {
  const scheme = urlScheme(root);
  if (scheme === undefined) return new LocalSink(root);
  if (scheme === 'file') return new LocalSink(fileURLToPath(root));
  // Remote sinks load their SDKs only when asked for.
  if (scheme === 's3') return new (await import('./s3.ts')).S3Sink(root);
  if (scheme === 'az') return new (await import('./azure.ts')).AzureSink(root);
  throw new UsageError(
    `cannot write to "${root.replace(/[?#].*$/, '')}": expected a local path, s3://bucket/prefix/ or az://container/prefix/`,
  );
}
