/**
 * Real storage services on loopback for tests: moto_server (S3), Azurite (Azure Blob) and a small
 * Range-capable HTTP server standing in for signed https URLs. Tests start them in beforeAll and
 * stop them in afterAll; nothing is expected to be running beforehand. A missing tool is an error.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunningService {
  /** Base URL of the service, e.g. `http://127.0.0.1:41234`. */
  endpoint: string;
  /** Environment variables that point a client at it (merge into process.env or pass to sources). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** A port that was free a moment ago (the caller retries if another process takes it first). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once `url` answers any HTTP status; rejects if the process exits first. */
async function waitForHttp(url: string, child: ChildProcess, name: string, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
  });
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`${name} exited (code ${exited}) before serving: ${stderr().slice(-2000)}`);
    const up = await new Promise<boolean>((resolve) => {
      const req = http.get(url, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.setTimeout(2000, () => {
        req.destroy();
        resolve(false);
      });
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  child.kill('SIGKILL');
  throw new Error(`${name} did not answer on ${url} within 60 s: ${stderr().slice(-2000)}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Spawns a server on a free port, retrying when the port was taken between probe and bind. */
async function spawnServer(
  name: string,
  missingHint: string,
  start: (port: number) => ChildProcess,
  readyUrl: (port: number) => string,
): Promise<{ child: ChildProcess; port: number }> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = start(port);
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-8000);
    });
    child.stdout?.on('data', () => {});
    const spawnFailed = new Promise<never>((_, reject) => {
      child.once('error', (e: NodeJS.ErrnoException) => {
        reject(e.code === 'ENOENT' ? new Error(`${name} is not installed: ${missingHint}`) : e);
      });
    });
    // A test process that dies must not leave servers behind.
    const onExit = () => child.kill('SIGKILL');
    process.once('exit', onExit);
    child.once('exit', () => process.off('exit', onExit));
    try {
      await Promise.race([waitForHttp(readyUrl(port), child, name, () => err), spawnFailed]);
      return { child, port };
    } catch (e) {
      lastErr = e;
      await stopChild(child);
      if (e instanceof Error && /not installed/.test(e.message)) throw e;
    }
  }
  throw lastErr;
}

/**
 * moto_server (S3 emulator) from PATH on a free loopback port. With `auth`, moto checks signatures
 * and access keys like AWS (every key is unknown to it, so every request is refused).
 */
export async function startMoto(opts: { auth?: boolean } = {}): Promise<RunningService> {
  const { child, port } = await spawnServer(
    'moto_server',
    'it must be on PATH (pip install "moto[server]")',
    (p) =>
      spawn('moto_server', ['-H', '127.0.0.1', '-p', String(p)], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: opts.auth ? { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: '0' } : process.env,
      }),
    (p) => `http://127.0.0.1:${p}/moto-api/`,
  );
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    },
    stop: () => stopChild(child),
  };
}

/** Azurite's fixed development account (public, documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Azurite's blob service from node_modules on a free loopback port, data in a temp dir. */
export async function startAzurite(): Promise<RunningService & { connectionString: string }> {
  const bin = path.join(repoRoot, 'node_modules/.bin/azurite-blob');
  const location = await mkdtemp(path.join(os.tmpdir(), 'nusomi-azurite-'));
  let started: { child: ChildProcess; port: number };
  try {
    started = await spawnServer(
      'azurite-blob',
      `expected ${bin} (npm install)`,
      (p) =>
        spawn(
          bin,
          ['--blobHost', '127.0.0.1', '--blobPort', String(p), '--location', location, '--silent', '--skipApiVersionCheck', '--loose'],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        ),
      (p) => `http://127.0.0.1:${p}/${AZURITE_ACCOUNT}?comp=list`,
    );
  } catch (e) {
    await rm(location, { recursive: true, force: true });
    throw e;
  }
  const { child, port } = started;
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`;
  return {
    endpoint,
    connectionString,
    env: { AZURE_STORAGE_CONNECTION_STRING: connectionString },
    stop: async () => {
      await stopChild(child);
      await rm(location, { recursive: true, force: true });
    },
  };
}

export interface RangeServer {
  /** Base URL ending in `/`; a file `a/b.json` is at `${base}a/b.json?sig=${signature}`. */
  base: string;
  /** The signed URL of a file under the served directory. */
  signed(p: string): string;
  /** Requests served so far, as `METHOD path range` (query strings dropped), for assertions. */
  requests: string[];
  stop(): Promise<void>;
}

/**
 * A node:http server on 127.0.0.1 (or another loopback `host`, e.g. 127.0.0.2 as a second host)
 * serving files from `root` with Range support (206 + Content-Range, 416 when unsatisfiable),
 * refusing any request whose `sig` query is not `signature` (403), as a signed-URL store does.
 */
export async function startRangeServer(root: string, opts: { signature: string; host?: string }): Promise<RangeServer> {
  const host = opts.host ?? '127.0.0.1';
  const absRoot = path.resolve(root);
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      requests.push(`${req.method} ${url.pathname} ${req.headers.range ?? ''}`.trim());
      if (url.searchParams.get('sig') !== opts.signature) {
        res.writeHead(403, { 'content-type': 'text/plain' }).end('signature does not match');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405).end();
        return;
      }
      const file = path.resolve(absRoot, '.' + decodeURIComponent(url.pathname));
      if (!file.startsWith(absRoot + path.sep)) {
        res.writeHead(404).end();
        return;
      }
      const st = await stat(file).catch(() => undefined);
      if (!st?.isFile()) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      const size = st.size;
      let start = 0;
      let end = size - 1;
      let status = 200;
      const range = req.headers.range;
      if (range) {
        const m = /^bytes=(\d*)-(\d*)$/.exec(range);
        if (!m || (m[1] === '' && m[2] === '')) {
          res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
          return;
        }
        if (m[1] === '') {
          start = Math.max(0, size - Number(m[2]));
        } else {
          start = Number(m[1]);
          if (m[2] !== '') end = Math.min(Number(m[2]), size - 1);
        }
        if (start >= size || start > end) {
          res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
          return;
        }
        status = 206;
      }
      const headers: http.OutgoingHttpHeaders = {
        'content-length': String(end - start + 1),
        'accept-ranges': 'bytes',
        'content-type': 'application/octet-stream',
      };
      if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${size}`;
      res.writeHead(status, headers);
      if (req.method === 'HEAD' || size === 0) {
        res.end();
        return;
      }
      createReadStream(file, { start, end }).pipe(res);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const base = `http://${host}:${port}/`;
  return {
    base,
    requests,
    signed: (p) => `${new URL(p.split('/').map(encodeURIComponent).join('/'), base).href}?sig=${encodeURIComponent(opts.signature)}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
