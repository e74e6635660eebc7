/** Open an output root from what the user wrote: a local path, `file://` URL, `s3://` or `az://`. */
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.ts';
import { AzureSink } from './azure.ts';
import { LocalSink } from './local.ts';
import { S3Sink } from './s3.ts';
import type { Sink } from './types.ts';

export async function openSink(root: string): Promise<Sink> {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]+):/.exec(root);
  const scheme = m ? m[1]!.toLowerCase() : undefined;
  if (scheme === undefined) return new LocalSink(root);
  if (scheme === 'file') return new LocalSink(fileURLToPath(root));
  if (scheme === 's3') return new S3Sink(root);
  if (scheme === 'az') return new AzureSink(root);
  throw new UsageError(`cannot write to "${root.replace(/[?#].*$/, '')}": expected a local path, s3://bucket/prefix/ or az://container/prefix/`);
}
