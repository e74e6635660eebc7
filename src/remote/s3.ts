/**
 * An `s3://bucket/prefix/` location and its client, shared by the S3 source and sink: URL parsing,
 * one client per configuration, and SDK failures as one-line errors. Configuration comes from the
 * usual AWS environment variables; with a custom endpoint (`AWS_ENDPOINT_URL_S3` /
 * `AWS_ENDPOINT_URL`) the client uses path-style addressing, which also serves GCS's S3-compatible
 * endpoint and emulators.
 */
import { S3Client } from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { InputError, UsageError } from '../errors.ts';

export type Env = Record<string, string | undefined>;

/** `s3://bucket/prefix/` → bucket and key prefix (empty, or ending in `/`). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/?#]+)\/?(.*)$/i.exec(url);
  if (!m?.[1]) throw new UsageError(`"${url}" is not an s3:// URL: expected s3://bucket/prefix/`);
  let prefix = m[2] ?? '';
  if (prefix && !prefix.endsWith('/')) prefix += '/';
  return { bucket: m[1], prefix };
}

export function s3Endpoint(env: Env): string | undefined {
  return env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
}

const clients = new Map<string, S3Client>();

/** One client per configuration (frames opened by URL would otherwise build a client each). */
export function s3ClientFor(env: Env = process.env): S3Client {
  const endpoint = s3Endpoint(env);
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const keyId = env.AWS_ACCESS_KEY_ID;
  const secret = env.AWS_SECRET_ACCESS_KEY;
  const cacheKey = JSON.stringify([endpoint, region, keyId, secret, env.AWS_SESSION_TOKEN, env.AWS_PROFILE]);
  let client = clients.get(cacheKey);
  if (client) return client;
  const config: S3ClientConfig = {
    // Without a region anywhere, us-east-1 plus redirects finds the bucket's real region.
    region: region || 'us-east-1',
    followRegionRedirects: true,
  };
  if (endpoint) {
    config.endpoint = endpoint;
    config.forcePathStyle = true;
    // Third-party S3 APIs (GCS, emulators) do not all accept the SDK's default CRC32 trailers.
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  // Explicit keys win; otherwise the SDK's default chain (env, profiles, SSO, instance roles).
  if (keyId && secret) {
    config.credentials = { accessKeyId: keyId, secretAccessKey: secret, sessionToken: env.AWS_SESSION_TOKEN || undefined };
  }
  // The SDK prints a 7-line notice about its future Node support on every run; users of this CLI
  // cannot act on it, so it is silenced unless they set the variable themselves.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  client = new S3Client(config);
  clients.set(cacheKey, client);
  return client;
}

/**
 * An SDK failure as an InputError naming the object, never the credentials or a stack trace.
 * `what` is the s3:// name of the object (or prefix) the call was about.
 */
export function s3Error(err: unknown, what: string, env: Env = process.env): Error {
  if (err instanceof InputError || err instanceof UsageError) return err;
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? '';
  if (name === 'NoSuchBucket') return new InputError('bucket not found', { file: what });
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return new InputError('not found', { file: what });
  if (name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'ExpiredToken' || name === 'InvalidToken') {
    return new InputError(`access denied (${name}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN`, { file: what });
  }
  if (name === 'AccessDenied' || name === 'Forbidden' || status === 403) {
    return new InputError('access denied (HTTP 403): the credentials may not allow this bucket', { file: what });
  }
  if (name === 'CredentialsProviderError') {
    return new InputError('no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE', { file: what });
  }
  const code = e.code ?? (e as { cause?: { code?: string } }).cause?.code;
  if (code && /^E[A-Z]+/.test(code)) {
    return new InputError(`cannot reach S3 endpoint ${s3Endpoint(env) ?? '(AWS default)'} (${code})`, { file: what });
  }
  return new InputError(`S3 request failed (${name || 'error'}${status ? `, HTTP ${status}` : ''})`, { file: what });
}

/** Where `s3://bucket/prefix/` points, with a client for it: what the S3 source and sink share. */
export class S3Location {
  readonly root: string;
  protected readonly bucket: string;
  protected readonly prefix: string;
  protected readonly client: S3Client;
  protected readonly env: Env;

  constructor(root: string, env: Env = process.env) {
    this.root = root;
    ({ bucket: this.bucket, prefix: this.prefix } = parseS3Url(root));
    this.env = env;
    this.client = s3ClientFor(env);
  }

  describe(p: string): string {
    return `s3://${this.bucket}/${this.prefix}${p}`;
  }
}
