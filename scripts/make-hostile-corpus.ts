/**
 * The hostile-input corpus: small exports, each crafted the way an attacker or a careless producer
 * would, with what `inspect`, `convert` and `validate` must say about it: the file and position the
 * one-line message names, and a secret marker that must never be printed. Memory bombs are made
 * cheaply: a 3 GiB line is one gzip member of zeros repeated (gunzip reads concatenated members as
 * one stream, ~3 MB on disk), a 2 GiB tar member is a sparse file.
 *
 *   tsx scripts/make-hostile-corpus.ts <out dir>   (prints the cases as JSON)
 *
 * The https case needs two servers; the caller gives the URL of the frame on the other host and
 * serves `cases/https-other-host` itself (see test/hostile-inputs.test.ts).
 */
import { mkdir, open, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDeflate, crc32, gzipSync } from 'node:zlib';
import { Int32, Table, Utf8, tableToIPC, vectorFromArray } from 'apache-arrow';
import { parquetWriteBuffer } from 'hyparquet-writer';
import sharp from 'sharp';
import { ustarHeader } from '../src/write/tar.ts';

/** Printed nowhere: every case that parses or refuses a file holding it checks stdout and stderr for it. */
export const SECRET = 'SECRET-7f3a9c-DO-NOT-PRINT';

export type Command = 'inspect' | 'convert' | 'validate';

export interface HostileCase {
  name: string;
  /** The export root (a local folder, or the https manifest URL the caller sets). */
  root: string;
  /** Extra flags for every command (e.g. a lowered limit). */
  flags?: string[];
  /** The file every message names (a path under the root, or part of a URL). */
  file: string;
  /** The position the message names after the file: line, member, row or step. */
  position?: string;
  /** Whether the case's bad input holds SECRET. */
  secret?: boolean;
  /** Peak RSS bound of each child, in MiB. */
  rssMiB: number;
  /** With `convert --on-error skip`, the case is a counted skip with this reason (other rows convert). */
  skipReason?: string;
}

const DESTINATION = 's3://vendor-exports/hostile/v1/';
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** What any case may take: node + tsx + sharp at rest is ~200 MiB; a case is bounded well under this. */
const RSS_MIB = 600;

type Row = Record<string, unknown>;

function rows(): Row[] {
  const out: Row[] = [];
  for (const [s, vp] of [
    ['ses_A', { w: 1440, h: 900 }],
    ['ses_B', { w: 1920, h: 1080 }],
  ] as const) {
    for (let k = 0; k < 2; k++) {
      out.push({
        session_id: s,
        t_ms: 1000 * k + 250,
        frame: {
          image_url: `${DESTINATION}frames/${s}/${k}.webp`,
          viewport: vp,
          dom: { tag: 'form' },
          accessibility_tree: 'button "Approve"',
        },
        action: { type: 'click', x: 100 + k, y: 50 },
        context: { workflow: 'process_invoice', prior_action: null, outcome: 'success' },
      });
    }
  }
  return out;
}

async function webp(w: number, h: number): Promise<Uint8Array> {
  return new Uint8Array(
    await sharp({ create: { width: w, height: h, channels: 3, background: { r: 40, g: 120, b: 200 } } })
      .webp()
      .toBuffer(),
  );
}

function manifest(format: string, extra: Row = {}): Row {
  return {
    export_id: 'exp_hostile',
    workflow: 'process_invoice',
    format,
    rows: 4,
    shards: 1,
    shard_size_bytes: 1,
    frames: 4,
    actions: 4,
    filter_summary: 'none',
    destination: DESTINATION,
    created_at: '2026-05-07T14:08:11Z',
    ...extra,
  };
}

const jsonl = (rs: Row[]) => rs.map((r) => JSON.stringify(r)).join('\n') + '\n';

/** A jsonl export with its frames; `edit` changes files before they are written (null = leave out). */
async function jsonlExport(
  root: string,
  edit: (files: Map<string, Uint8Array | string>) => void | Promise<void> = () => {},
): Promise<string> {
  const files = new Map<string, Uint8Array | string>();
  files.set('manifest.json', JSON.stringify(manifest('jsonl'), null, 2));
  files.set('data/part-00000.jsonl', jsonl(rows()));
  for (const r of rows()) {
    const f = r.frame as { image_url: string; viewport: { w: number; h: number } };
    files.set(f.image_url.slice(DESTINATION.length), await webp(Math.round(f.viewport.w / 8), Math.round(f.viewport.h / 8)));
  }
  await edit(files);
  for (const [p, b] of files) {
    await mkdir(path.dirname(path.join(root, p)), { recursive: true });
    await writeFile(path.join(root, p), b);
  }
  return root;
}

function tarMember(name: string, data: Uint8Array): Uint8Array[] {
  return [ustarHeader(name, data.length, 1_700_000_000), data, new Uint8Array((512 - (data.length % 512)) % 512)];
}

const bytes = (s: string) => new TextEncoder().encode(s);
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts as unknown as Uint8Array[]));

/** A webdataset export: one shard with sample k0 (members given), and an optional sidecar. */
async function wdsExport(root: string, members: [string, Uint8Array][], sidecar?: string): Promise<string> {
  await mkdir(path.join(root, 'data'), { recursive: true });
  await writeFile(path.join(root, 'manifest.json'), JSON.stringify(manifest('webdataset'), null, 2));
  await writeFile(
    path.join(root, 'data/shard-000000.tar'),
    concat([...members.flatMap(([n, d]) => tarMember(n, d)), new Uint8Array(1024)]),
  );
  if (sidecar !== undefined) await writeFile(path.join(root, 'data/shard-000000.jsonl'), sidecar);
  return root;
}

/** An Arrow IPC (or Parquet) export whose frame/action/context columns are JSON text (as vendors write heterogeneous shapes). */
async function arrowExport(
  root: string,
  edit: (cols: { frame: string[]; action: string[]; context: string[] }) => void,
  format: 'arrow' | 'parquet' = 'arrow',
): Promise<string> {
  const rs = rows();
  const cols = {
    frame: rs.map((r) => JSON.stringify({ ...(r.frame as Row), image_url: String((r.frame as Row).image_url).slice(DESTINATION.length) })),
    action: rs.map((r) => JSON.stringify(r.action)),
    context: rs.map((r) => JSON.stringify(r.context)),
  };
  edit(cols);
  const table = new Table({
    session_id: vectorFromArray(
      rs.map((r) => r.session_id as string),
      new Utf8(),
    ),
    t_ms: vectorFromArray(
      rs.map((r) => r.t_ms as number),
      new Int32(),
    ),
    frame: vectorFromArray(cols.frame, new Utf8()),
    action: vectorFromArray(cols.action, new Utf8()),
    context: vectorFromArray(cols.context, new Utf8()),
  });
  const parquet = () =>
    new Uint8Array(
      parquetWriteBuffer({
        columnData: [
          { name: 'session_id', data: rs.map((r) => r.session_id as string), type: 'STRING' },
          { name: 't_ms', data: rs.map((r) => r.t_ms as number), type: 'INT32' },
          { name: 'frame', data: cols.frame, type: 'STRING' },
          { name: 'action', data: cols.action, type: 'STRING' },
          { name: 'context', data: cols.context, type: 'STRING' },
        ],
      }),
    );
  await jsonlExport(root, (files) => {
    files.delete('data/part-00000.jsonl');
    files.set('manifest.json', JSON.stringify(manifest(format), null, 2));
    if (format === 'arrow') files.set('data/part-0.arrow', tableToIPC(table, 'file'));
    else files.set('data/part-0.parquet', parquet());
  });
  return root;
}

/** JSON text nested `depth` levels deep. */
const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

/** A .jsonl.gz whose first line is `bytes` zeros long, ~1/1000 of that on disk. */
async function gzLineBomb(file: string, total: number): Promise<void> {
  const block = 16 * MiB;
  const member = gzipSync(new Uint8Array(block), { level: 9 });
  const fh = await open(file, 'w');
  try {
    for (let n = 0; n < total; n += block) await fh.write(member);
    await fh.write(gzipSync(bytes('\n' + jsonl(rows().slice(1)))));
  } finally {
    await fh.close();
  }
}

/** A tar whose first member claims `size` bytes of zeros, written as a sparse file (nothing stored). */
async function sparseTar(file: string, name: string, size: number): Promise<void> {
  const fh = await open(file, 'w');
  try {
    await fh.write(ustarHeader(name, size, 1_700_000_000), 0, 512, 0);
    const end = 512 + Math.ceil(size / 512) * 512;
    const json = bytes(JSON.stringify(rows()[0]));
    const rest = concat([...tarMember('k0.json', json), new Uint8Array(1024)]);
    await fh.write(rest, 0, rest.length, end);
  } finally {
    await fh.close();
  }
}

/** A real w×h PNG (1-bit grey, all black): tiny on disk, w×h×4 bytes once decoded. */
async function hugePng(w: number, h: number): Promise<Uint8Array> {
  const chunk = (type: string, data: Uint8Array) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(concat([bytes(type), data])) >>> 0, 0);
    return concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  const z = createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  z.on('data', (c: Buffer) => parts.push(c));
  const done = new Promise((r) => z.on('end', r));
  const row = new Uint8Array(1 + Math.ceil(w / 8)); // filter byte 0 + the row's bits
  const rowsPerWrite = 256;
  const block = new Uint8Array(row.length * rowsPerWrite);
  for (let y = 0; y < h; y += rowsPerWrite) {
    const n = Math.min(rowsPerWrite, h - y);
    if (!z.write(block.subarray(0, n * row.length))) await new Promise((r) => z.once('drain', r));
  }
  z.end();
  await done;
  const sig = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return concat([sig, chunk('IHDR', ihdr), chunk('IDAT', concat(parts)), chunk('IEND', new Uint8Array(0))]);
}

/**
 * Build every case under `out` (`out/outside` holds the files no export may reach). `remoteFrameUrl`
 * is the URL, on another host, that the https case's rows point at.
 */
export async function makeHostileCorpus(out: string, opts: { remoteFrameUrl?: string } = {}): Promise<HostileCase[]> {
  const outside = path.join(out, 'outside');
  await mkdir(outside, { recursive: true });
  const secretWebp = concat([await webp(180, 112), bytes(SECRET)]);
  await writeFile(path.join(outside, 'secret.webp'), secretWebp);
  await writeFile(path.join(outside, 'secret.txt'), `${SECRET}\n`);
  await writeFile(path.join(outside, 'other.jsonl'), jsonl(rows().map((r) => ({ ...r, extra_note: SECRET }))));
  const dir = (name: string) => path.join(out, 'cases', name);
  const cases: HostileCase[] = [];
  const add = async (c: Omit<HostileCase, 'root' | 'rssMiB'> & { rssMiB?: number }, make: (root: string) => Promise<unknown>) => {
    const root = dir(c.name);
    await mkdir(root, { recursive: true });
    await make(root);
    cases.push({ rssMiB: RSS_MIB, ...c, root });
  };
  const firstRow = 'session ses_A t_ms 250';

  // Confinement.
  await add({ name: 'file-url-frame', file: 'data/part-00000.jsonl', position: firstRow, skipReason: 'frame cannot be read' }, (root) =>
    jsonlExport(root, (files) => {
      const rs = rows();
      (rs[0]!.frame as Row).image_url = `file://${path.join(outside, 'secret.webp')}`;
      files.set('data/part-00000.jsonl', jsonl(rs));
    }),
  );
  await add(
    { name: 'symlink-frame', file: 'data/part-00000.jsonl', position: firstRow, skipReason: 'frame cannot be read' },
    async (root) => {
      await jsonlExport(root, (files) => void files.delete('frames/ses_A/0.webp'));
      await symlink(path.join(outside, 'secret.webp'), path.join(root, 'frames/ses_A/0.webp'));
    },
  );
  await add({ name: 'symlink-data-file', file: 'data/part-00001.jsonl', secret: true }, async (root) => {
    await jsonlExport(root);
    await symlink(path.join(outside, 'other.jsonl'), path.join(root, 'data/part-00001.jsonl'));
  });
  await add({ name: 'manifest-file-url', file: 'manifest.json', position: 'files[1]', secret: true }, (root) =>
    jsonlExport(root, (files) => {
      files.set(
        'manifest.json',
        JSON.stringify(
          manifest('jsonl', { files: [{ path: 'data/part-00000.jsonl' }, { url: `file://${path.join(outside, 'secret.txt')}` }] }),
        ),
      );
    }),
  );

  // Errors never print what they failed to parse.
  await add(
    { name: 'bad-json-line', file: 'data/part-00000.jsonl', position: 'line 2', secret: true, skipReason: 'not a JSON object' },
    (root) =>
      jsonlExport(root, (files) => {
        const lines = jsonl(rows()).split('\n');
        lines[1] = `{"session_id": "ses_A", "t_ms": ${SECRET} and more text after it}`;
        files.set('data/part-00000.jsonl', lines.join('\n'));
      }),
  );
  await add({ name: 'bad-manifest', file: 'manifest.json', secret: true }, (root) =>
    jsonlExport(root, (files) => void files.set('manifest.json', `{"export_id": "x", "workflow": ${SECRET}}`)),
  );
  const row0 = bytes(JSON.stringify(rows()[0]));
  const frame0 = await webp(180, 112);
  await add({ name: 'wds-bad-json-member', file: 'data/shard-000000.tar', position: 'member k0.json', secret: true }, (root) =>
    wdsExport(root, [
      ['k0.webp', frame0],
      ['k0.json', bytes(`{"session_id": ${SECRET}`)],
    ]),
  );
  await add({ name: 'wds-bad-sidecar-line', file: 'data/shard-000000.jsonl', position: 'line 1', secret: true }, (root) =>
    wdsExport(root, [['k0.webp', frame0]], `{"__key__": "k0", ${SECRET}\n`),
  );
  await add({ name: 'arrow-bad-json-text', file: 'data/part-0.arrow', position: 'row 0', secret: true }, (root) =>
    arrowExport(root, (cols) => void (cols.action[0] = `{"type": "click", "x": ${SECRET}`)),
  );

  await add({ name: 'parquet-bad-json-text', file: 'data/part-0.parquet', position: 'row 2', secret: true }, (root) =>
    arrowExport(root, (cols) => void (cols.frame[2] = `{"viewport": {"w": 1, "h": 1}, "dom": ${SECRET}`), 'parquet'),
  );

  // JSON depth: V8 parses any depth, but recursive walkers (and JSON.stringify) overflow the stack.
  await add(
    {
      name: 'deep-json-line',
      file: 'data/part-00000.jsonl',
      position: 'line 1',
      skipReason: 'JSON nested deeper than 256 levels, over the limit of 256',
    },
    (root) =>
      jsonlExport(root, (files) => {
        const lines = jsonl(rows()).split('\n');
        lines[0] = lines[0]!.replace('{"tag":"form"}', deep(10_000));
        files.set('data/part-00000.jsonl', lines.join('\n'));
      }),
  );
  await add({ name: 'deep-json-text-column', file: 'data/part-0.arrow', position: 'row 0' }, (root) =>
    arrowExport(
      root,
      (cols) =>
        void (cols.context[0] = JSON.stringify({ workflow: 'w', prior_action: null, outcome: 'success' }).replace('"w"', deep(10_000))),
    ),
  );
  await add({ name: 'deep-json-parquet-column', file: 'data/part-0.parquet', position: 'row 1' }, (root) =>
    arrowExport(
      root,
      (cols) => void (cols.action[1] = JSON.stringify({ type: 'click', args: 'A' }).replace('"A"', deep(10_000))),
      'parquet',
    ),
  );
  await add({ name: 'deep-manifest', file: 'manifest.json' }, (root) =>
    jsonlExport(
      root,
      (files) => void files.set('manifest.json', JSON.stringify(manifest('jsonl')).replace(/}$/, `, "vendor": ${deep(10_000)}}`)),
    ),
  );
  await add({ name: 'deep-wds-member', file: 'data/shard-000000.tar', position: 'member k0.json' }, (root) =>
    wdsExport(root, [
      ['k0.webp', frame0],
      ['k0.json', bytes(JSON.stringify(rows()[0]).replace('{"tag":"form"}', deep(10_000)))],
    ]),
  );

  // Memory: lines, members, frames. The first two at default limits prove the bound.
  await add({ name: 'gz-line-3gib', file: 'data/part-00000.jsonl.gz', position: 'line 1', rssMiB: 400 }, (root) =>
    jsonlExport(root, async (files) => {
      files.delete('data/part-00000.jsonl');
      await mkdir(path.join(root, 'data'), { recursive: true });
      await gzLineBomb(path.join(root, 'data/part-00000.jsonl.gz'), 3 * GiB);
    }),
  );
  await add({ name: 'tar-member-2gib', file: 'data/shard-000000.tar', position: 'member k0.webp', rssMiB: 400 }, async (root) => {
    await wdsExport(root, [['k0.json', row0]]);
    await sparseTar(path.join(root, 'data/shard-000000.tar'), 'k0.webp', 2 * GiB);
  });
  await add(
    { name: 'long-line-lowered-limit', file: 'data/part-00000.jsonl', position: 'line 2', flags: ['--max-line-bytes', '1MiB'] },
    (root) =>
      jsonlExport(root, (files) => {
        const rs = rows();
        (rs[1]!.frame as Row).accessibility_tree = 'x'.repeat(2 * MiB);
        files.set('data/part-00000.jsonl', jsonl(rs));
      }),
  );
  await add(
    { name: 'tar-member-lowered-limit', file: 'data/shard-000000.tar', position: 'member k0.json', flags: ['--max-member-bytes', '1MiB'] },
    (root) =>
      wdsExport(root, [
        ['k0.webp', frame0],
        ['k0.json', bytes(JSON.stringify({ ...rows()[0], pad: 'x'.repeat(2 * MiB) }))],
      ]),
  );
  {
    // Sidecar lines for samples the tar does not have wait in memory for them: bounded too.
    const lines: string[] = [];
    let held = 0;
    let over = 0;
    for (let i = 0; i < 200; i++) {
      const l = JSON.stringify({ __key__: `other${String(i).padStart(3, '0')}`, pad: 'x'.repeat(10_000) });
      lines.push(l);
      held += l.length;
      if (!over && held > MiB) over = i + 1;
    }
    await add(
      {
        name: 'wds-sidecar-out-of-order',
        file: 'data/shard-000000.jsonl',
        position: `line ${over}`,
        flags: ['--max-member-bytes', '1MiB'],
      },
      (root) => wdsExport(root, [['k0.webp', frame0]], lines.join('\n') + '\n'),
    );
  }
  await add(
    { name: 'frame-30000px-passthrough', file: 'data/part-00000.jsonl', position: firstRow, skipReason: 'frame over the size limits' },
    (root) =>
      jsonlExport(root, async (files) => {
        const rs = rows();
        (rs[0]!.frame as Row).image_url = `${DESTINATION}frames/ses_A/0.png`;
        files.set('data/part-00000.jsonl', jsonl(rs));
        files.delete('frames/ses_A/0.webp');
        files.set('frames/ses_A/0.png', await hugePng(30_000, 30_000));
      }),
  );

  // Another host: the caller serves this export over http on 127.0.0.1; its first row's frame is on 127.0.0.2.
  if (opts.remoteFrameUrl) {
    const remote = opts.remoteFrameUrl;
    await add({ name: 'https-other-host', file: 'data/part-00000.jsonl', position: firstRow, skipReason: 'frame cannot be read' }, (root) =>
      jsonlExport(root, (files) => {
        const rs = rows();
        (rs[0]!.frame as Row).image_url = remote;
        files.set('data/part-00000.jsonl', jsonl(rs));
        files.set('manifest.json', JSON.stringify(manifest('jsonl', { files: [{ path: 'data/part-00000.jsonl' }] })));
      }),
    );
  }
  return cases;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [out] = process.argv.slice(2);
  if (!out) {
    process.stderr.write('usage: tsx scripts/make-hostile-corpus.ts <out dir>\n');
    process.exit(2);
  }
  process.stdout.write(JSON.stringify(await makeHostileCorpus(out), null, 2) + '\n');
}
