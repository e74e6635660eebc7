/**
 * What an export may reach (src/source/reach.ts): references resolve inside the root, file:// and
 * other hosts are refused unless allowed, and an https source follows a redirect only where the
 * export may reach (a signed URL's server redirecting to another loopback address is refused).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.ts';
import { HttpsSource } from '../src/source/https.ts';
import { resolveReference } from '../src/source/reach.ts';

const DEST = 's3://vendor/exports/v1/';
const where = { file: 'data/a.jsonl', row: 'line 3' };
const resolve = (ref: string, root: string, allowRemote: string[] = []) => resolveReference(ref, root, DEST, { allowRemote }, where);
const refused = (ref: string, root: string, allowRemote: string[] = []) => {
  try {
    resolve(ref, root, allowRemote);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error(`${ref} was not refused`);
};

describe('resolveReference', () => {
  it('maps relative paths and URLs under the destination into the root', () => {
    expect(resolve(`${DEST}frames/a.webp`, '/data/exp')).toEqual({ kind: 'root', path: 'frames/a.webp' });
    expect(resolve('./frames/a.webp', '/data/exp')).toEqual({ kind: 'root', path: 'frames/a.webp' });
    // `..` stays a path: the root's source refuses it (LocalSource, checkRelative).
    expect(resolve('../x.webp', '/data/exp')).toEqual({ kind: 'root', path: '../x.webp' });
  });

  it('refuses file:// everywhere, naming the file and row, without the query string', () => {
    expect(refused('file:///etc/passwd', '/data/exp')).toBe(
      'data/a.jsonl: line 3: frame URL file:///etc/passwd is refused: file:// URLs could read any file of this machine; an export reaches only its own files',
    );
    expect(refused('file:///etc/passwd', '/data/exp', ['localhost', ''])).toMatch(/is refused/);
    expect(refused('FILE:///etc/passwd?x=1', 's3://b/p/')).not.toContain('x=1');
  });

  it("reads the root's own bucket, container or https folder as it is, and refuses other ones unless allowed", () => {
    expect(resolve('s3://b/p/frames/a.webp', 's3://b/p/')).toEqual({ kind: 'root', path: 'frames/a.webp' });
    expect(refused('s3://b/other/a.webp', 's3://b/p/')).toMatch(
      /outside the export root \(bucket b\); pass --allow-remote-frames b to allow it$/,
    );
    expect(refused('s3://c/p/a.webp', 's3://b/p/')).toMatch(/bucket c/);
    expect(resolve('s3://c/p/a.webp', 's3://b/p/', ['c'])).toEqual({ kind: 'url', url: 's3://c/p/a.webp' });
    expect(resolve('az://box/p/a.webp', 'az://box/p')).toEqual({ kind: 'root', path: 'a.webp' });
    expect(refused('az://box2/a.webp', '/data/exp')).toMatch(/container box2/);
    expect(resolve('az://box2/a.webp', '/data/exp', ['az://box2'])).toEqual({ kind: 'url', url: 'az://box2/a.webp' });

    const root = 'https://cdn.example.com/exp/manifest.json?sig=s';
    expect(resolve('https://cdn.example.com/exp/frames/a.webp?sig=t', root)).toEqual({
      kind: 'url',
      url: 'https://cdn.example.com/exp/frames/a.webp?sig=t',
    });
    // Dot segments are resolved before the check: this one leaves the folder.
    expect(refused('https://cdn.example.com/exp/%2e%2e/secret.webp?sig=t', root)).toMatch(
      /https:\/\/cdn\.example\.com\/secret\.webp is outside the export root \(host cdn\.example\.com\)/,
    );
    expect(refused('http://169.254.169.254/latest/meta-data', root)).toMatch(
      /host 169\.254\.169\.254\); pass --allow-remote-frames 169\.254\.169\.254/,
    );
    expect(resolve('https://other.example.com:8443/a.webp', root, ['other.example.com:8443']).kind).toBe('url');
    expect(resolve('https://other.example.com:8443/a.webp', root, ['OTHER.example.com']).kind).toBe('url');
    expect(refused('ftp://x/a.webp', root)).toMatch(/unsupported scheme ftp:/);
  });
});

describe('https redirects', () => {
  let inner: http.Server;
  let outer: http.Server;
  let outerHits = 0;
  let base: string;
  let other: string;

  beforeAll(async () => {
    outer = http.createServer((_req, res) => {
      outerHits++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ files: [{ path: 'data/a.jsonl' }] }));
    });
    await new Promise<void>((r) => outer.listen(0, '127.0.0.2', () => r()));
    other = `http://127.0.0.2:${(outer.address() as AddressInfo).port}`;
    inner = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/exp/manifest.json') res.writeHead(302, { location: `${other}/secret/manifest.json` }).end();
      else if (u.pathname === '/exp/moved.json') res.writeHead(302, { location: '/exp/manifest2.json?sig=abc' }).end();
      else if (u.pathname === '/exp/manifest2.json') res.writeHead(200).end(JSON.stringify({ files: [] }));
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => inner.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(inner.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of [inner, outer]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  it('refuses a redirect to another host, and follows it once the host is allowed', async () => {
    const err = await new HttpsSource(`${base}/exp/manifest.json?sig=abc`).list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(
      `${base}/exp/manifest.json: redirect to ${other}/secret/manifest.json is outside the export root (host 127.0.0.2:${other.split(':')[2]}); pass --allow-remote-frames 127.0.0.2 to allow it`,
    );
    expect(outerHits).toBe(0);
    const allowed = new HttpsSource(`${base}/exp/manifest.json?sig=abc`, { allowRemote: ['127.0.0.2'] });
    expect((await allowed.list()).map((e) => e.path)).toEqual(['data/a.jsonl', 'manifest.json']);
    expect(outerHits).toBe(1);
  });

  it('follows a redirect inside the export folder', async () => {
    expect((await new HttpsSource(`${base}/exp/moved.json?sig=abc`).list()).map((e) => e.path)).toEqual(['manifest.json']);
  });
});
