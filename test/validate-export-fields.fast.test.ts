/**
 * validate on an export reads what it would read on the dataset made from it: the privacy scan
 * covers the same fields (one list, PRIVACY_FIELDS), the vendor's typed `action.value` and target
 * names included; and a loose vendor tar is checked as an export, not against the dataset layout.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert } from '../src/convert/convert.ts';
import type { JsonObject } from '../src/export/step.ts';
import type { ValidationReport } from '../src/validate/report.ts';
import { validate } from '../src/validate/validate.ts';
import { ustarHeader } from '../src/write/tar.ts';
import { deriveExport, sampleJsonRows } from './convert-fixtures.ts';
import { repoRoot } from './helpers/python.ts';

const CARD = '4111 1111 1111 1111';
const EMAIL = 'jane.doe@example.com';
const TARGET_EMAIL = 'ops.lead@vendor-mail.com';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'validate-export-fields-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** check id → the fields its examples name (`... field action.text: ...`). */
function fieldsBy(rep: ValidationReport): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const c of rep.checks) out[c.id] = [...new Set(c.examples.map((e) => /field ([\w.]+):/.exec(e.message)?.[1] ?? '?'))].sort();
  return out;
}

describe('privacy: an export is scanned on the same fields as its dataset', () => {
  it("a card number and an e-mail in an input_text action's value, and an e-mail in a target name, are flagged before and after convert", async () => {
    const rows = await sampleJsonRows();
    const typed = rows.findIndex((r) => (r.action as JsonObject).type === 'input_text');
    const action = { ...(rows[typed]!.action as JsonObject) };
    delete action.text;
    action.value = `card ${CARD} mail ${EMAIL}`;
    rows[typed] = { ...rows[typed]!, action };
    const clicked = rows.findIndex((r) => (r.action as JsonObject).type === 'click');
    const click = rows[clicked]!.action as JsonObject;
    rows[clicked] = {
      ...rows[clicked]!,
      action: { ...click, target: { ...(click.target as JsonObject), name: `Contact ${TARGET_EMAIL}` } },
    };
    const exp = await deriveExport(path.join(tmp, 'export'), rows);

    const before = await validate([exp], { threads: 2 });
    expect(before.kind).toBe('export');
    expect(JSON.stringify(before)).not.toContain(EMAIL);
    expect(JSON.stringify(before)).not.toContain(CARD);
    expect(fieldsBy(before)).toEqual({ 'privacy.card_number': ['action.text'], 'privacy.email': ['action.target.name', 'action.text'] });

    const out = path.join(tmp, 'dataset');
    await convert({
      input: exp,
      out,
      formats: ['parquet', 'arrow', 'jsonl', 'webdataset'],
      split: { split: 'train=1' },
      filters: {},
      frames: {},
      wds: {},
      onError: 'stop',
    });
    const after = await validate([out], { threads: 2 });
    // The same checks, once per format (the dataset holds each row four times). The typed `value`
    // fills action.text and also stays in action.args (so the row rebuilds with the vendor's key):
    // both copies are flagged.
    expect(after.checks.map((c) => [c.id, c.count])).toEqual([
      ['privacy.card_number', 8],
      ['privacy.email', 12],
    ]);
    expect(fieldsBy(after)['privacy.card_number']).toEqual(['action.args', 'action.text']);
    expect(before.checks.map((c) => [c.id, c.count])).toEqual([
      ['privacy.card_number', 1],
      ['privacy.email', 2],
    ]);
    // Target names are scanned under the same name on both sides.
    expect(fieldsBy(after)['privacy.email']).toContain('action.target.name');
  });
});

interface TarMember {
  name: string;
  data: Uint8Array;
}

function readTar(buf: Uint8Array): TarMember[] {
  const out: TarMember[] = [];
  for (let off = 0; off + 512 <= buf.length; ) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const name = Buffer.from(h.subarray(0, 100)).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(Buffer.from(h.subarray(124, 136)).toString('latin1').replace(/\0.*$/s, '').trim(), 8);
    out.push({ name, data: buf.slice(off + 512, off + 512 + size) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

function writeTar(members: TarMember[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members) parts.push(ustarHeader(m.name, m.data.length, 0), m.data, new Uint8Array((512 - (m.data.length % 512)) % 512));
  parts.push(new Uint8Array(1024));
  return new Uint8Array(Buffer.concat(parts));
}

describe('a loose vendor tar', () => {
  const shard = path.join(repoRoot, 'samples/webdataset/data/shard-000000.tar');

  it('is checked as an export: clean, not a dataset-schema mismatch', async () => {
    const rep = await validate([shard], { threads: 2 });
    expect(rep.kind).toBe('export');
    expect(rep.checks).toEqual([]);
    const members = readTar(new Uint8Array(await readFile(shard)));
    expect(rep.stats.rows).toBe(members.filter((m) => m.name.endsWith('.json')).length);
  });

  it('without its sidecar, with an e-mail typed into a value: flagged on that member', async () => {
    const dir = path.join(tmp, 'loose');
    await mkdir(dir);
    const members = readTar(new Uint8Array(await readFile(shard)));
    const i = members.findIndex(
      (m) =>
        m.name.endsWith('.json') &&
        (JSON.parse(Buffer.from(m.data).toString('utf8')) as { action: { type: string } }).action.type === 'input_text',
    );
    const row = JSON.parse(Buffer.from(members[i]!.data).toString('utf8')) as { action: JsonObject };
    delete row.action.text;
    row.action.value = `reply to ${EMAIL}`;
    members[i] = { name: members[i]!.name, data: new Uint8Array(Buffer.from(JSON.stringify(row))) };
    const tar = path.join(dir, 'vendor-shard.tar');
    await writeFile(tar, writeTar(members));
    const rep = await validate([tar], { threads: 2 });
    expect(rep.kind).toBe('export');
    expect(rep.checks.map((c) => c.id)).toEqual(['privacy.email']);
    expect(rep.checks[0]!.examples[0]).toMatchObject({ file: 'vendor-shard.tar', member: members[i]!.name.replace(/\.json$/, '') });
    expect(rep.checks[0]!.examples[0]!.message).toContain('field action.text');
    expect(JSON.stringify(rep)).not.toContain(EMAIL);
  });

  it("a dataset's own shard given loose is still checked against the dataset layout", async () => {
    const out = path.join(tmp, 'own');
    await convert({
      input: path.join(repoRoot, 'samples/jsonl'),
      out,
      formats: ['webdataset'],
      split: { split: 'train=1' },
      filters: {},
      frames: {},
      wds: {},
      onError: 'stop',
    });
    const own = path.join(tmp, 'own-shard.tar');
    await cp(path.join(out, 'webdataset/train-000000.tar'), own);
    const rep = await validate([own], { threads: 2 });
    expect(rep.kind).toBe('files');
    expect(rep.checks).toEqual([]);
    expect(rep.stats.by_format.webdataset!.rows).toBe(77);
  });
});
