/**
 * The one rule for what `validate` must see before it says clean:
 *
 *  1. The target exists and holds something validate recognises: a dataset (dataset-manifest.json),
 *     an export (manifest.json), or data files named one by one on the command line; and at least
 *     one row was read from it.
 *  2. A folder or prefix of data files is a dataset only with its dataset-manifest.json. convert
 *     writes it last, so a folder without it is an interrupted or foreign copy.
 *  3. Every file the manifest lists is there with its size (its sha256 is compared while the file
 *     is read, see FileToCheck), the card is there, and every data file there is listed.
 *  4. The rows read from the files of each format, counted one by one (never taken from a footer or
 *     from the manifest), equal the manifest's `files[].rows` and `splits.*.rows` and the card's
 *     `num_examples`. So a file cut short and re-hashed into the manifest still fails.
 *  5. An export holds rows, and as many as its manifest.json says (validate.ts, through inspect).
 *
 * A file that cannot be read to its end is reported by its own check; its rows are unknown and are
 * not compared (the run fails on that check already).
 */
import type { DatasetFile, DatasetManifest } from '../hf/dataset-manifest.ts';
import { DATASET_MANIFEST_FILE } from '../hf/dataset-manifest.ts';
import type { SourceEntry } from '../source/types.ts';
import type { FileToCheck } from './context.ts';
import type { Findings } from './report.ts';
import { ALL_FORMATS, formatOfPath } from '../formats/registry.ts';
import type { OutputFormat } from '../formats/registry.ts';

export type Format = OutputFormat;
/** The order files are checked in: the registry's. */
export const FORMAT_ORDER: readonly Format[] = ALL_FORMATS;

/** The format of a data file by its name, or null (support files, frames, anything else). */
export const formatOf = formatOfPath;

const FRAME_FILE = /\.(webp|png|jpe?g)$/i;
/** Hidden files and folders (.gitattributes, .git/, lock files) are not part of a dataset. */
export const hidden = (p: string): boolean => p.split('/').some((s) => s.startsWith('.'));

/** What a folder or prefix without a manifest holds (rule 1). */
export function classifyListing(listing: SourceEntry[]): 'empty' | 'unrecognised' | 'data' {
  const visible = listing.filter((e) => !hidden(e.path));
  if (!visible.length) return 'empty';
  return visible.some((e) => formatOf(e.path)) ? 'data' : 'unrecognised';
}

/** Split name → `num_examples`, from the card's YAML `dataset_info.splits`. */
export type CardSplits = Map<string, number | undefined>;

interface FileRows {
  path: string;
  format: Format;
  split: string;
  /** Rows read, or null when the file could not be read to its end (reported by its own check). */
  rows: number | null;
}

export class Completeness {
  private readonly files: FileRows[] = [];
  private readonly configFiles: Array<{ path: string; config: string; split: string; rows: number | null }> = [];

  constructor(private readonly findings: Findings) {}

  /** The rows one data file held, counted as they were read. */
  fileRows(path: string, format: Format, split: string, rows: number | null): void {
    this.files.push({ path, format, split, rows });
    const s = this.findings.format(format);
    s.files++;
    if (rows !== null) s.rows += rows;
  }

  /**
   * Rule 3: the files the manifest lists that are present, each with its expected sha256 for the
   * checker that reads it; missing ones, size changes, a missing card and unlisted data files or
   * frames are reported here.
   */
  listedFiles(manifest: DatasetManifest, listing: SourceEntry[]): Array<{ listed: DatasetFile; file: FileToCheck }> {
    const f = this.findings;
    const sizes = new Map(listing.map((e) => [e.path, e.size]));
    const out: Array<{ listed: DatasetFile; file: FileToCheck }> = [];
    for (const mf of manifest.files) {
      const size = sizes.get(mf.path);
      if (size === undefined) {
        f.add('dataset.file_missing', { file: mf.path, message: `listed in ${DATASET_MANIFEST_FILE} (${mf.bytes} bytes) but not found` });
        continue;
      }
      const file: FileToCheck = { path: mf.path, split: mf.split ?? '', size, sha256: mf.sha256 ?? null };
      if (size !== mf.bytes) {
        f.add('dataset.file_size_mismatch', { file: mf.path, message: `${size} bytes, ${DATASET_MANIFEST_FILE} says ${mf.bytes}` });
        file.sizeMismatch = true;
      }
      out.push({ listed: mf, file });
    }
    if (!sizes.has('README.md')) f.add('dataset.file_missing', { file: 'README.md', message: 'the dataset card is missing' });
    const listed = new Set(manifest.files.map((x) => x.path));
    for (const e of listing) {
      if (listed.has(e.path) || hidden(e.path) || !(formatOf(e.path) || FRAME_FILE.test(e.path))) continue;
      f.add('dataset.file_unlisted', { file: e.path, message: `present (${e.size ?? '?'} bytes) but not in ${DATASET_MANIFEST_FILE}` });
    }
    return out;
  }

  /** The rows a data file of an extra config held (`sft/...`), counted apart from the formats' rows. */
  configRows(path: string, config: string, split: string, rows: number | null): void {
    this.configFiles.push({ path, config, split, rows });
  }

  /** Rule 4 for the extra configs: rows read against files[].rows, configs.<name>.splits and the card's entry of that config. */
  configRowCounts(manifest: DatasetManifest, card: Map<string, CardSplits> | null): void {
    const f = this.findings;
    const listedRows = new Map(manifest.files.map((x) => [x.path, x.rows]));
    const read = new Map<string, number>();
    for (const x of this.configFiles) {
      const want = listedRows.get(x.path);
      if (x.rows !== null && typeof want === 'number' && want !== x.rows)
        f.add('dataset.row_count_mismatch', {
          file: x.path,
          message: `${x.rows} rows read, ${DATASET_MANIFEST_FILE} files[] says ${want}`,
        });
      const key = `${x.config}\0${x.split}`;
      read.set(key, (read.get(key) ?? 0) + (x.rows ?? Number.NaN));
    }
    for (const [config, c] of Object.entries(manifest.configs ?? {})) {
      let rows = 0;
      for (const [split, s] of Object.entries(c?.splits ?? {})) {
        const n = read.get(`${config}\0${split}`) ?? 0;
        rows += n;
        if (!Number.isNaN(n) && n !== s.rows)
          f.add('dataset.row_count_mismatch', {
            file: DATASET_MANIFEST_FILE,
            message: `config ${config} split ${split}: ${n} rows read, configs.${config}.splits.${split}.rows says ${s.rows}`,
          });
        const inCard = card?.get(config)?.get(split);
        if (card && !Number.isNaN(n) && inCard !== n)
          f.add('dataset.num_examples_mismatch', {
            file: 'README.md',
            message: `config ${config} split ${split}: num_examples ${inCard ?? 'missing'}, its files have ${n} rows`,
          });
      }
      if (!Number.isNaN(rows)) f.configRows = Math.max(f.configRows, rows);
    }
  }

  /** Rule 1, after reading: some data file was read, and it held rows. */
  somethingRead(target: string): void {
    // The extra configs' files count: a dataset without `steps` (`convert --configs sft`) has only them.
    const all = [...this.files, ...this.configFiles];
    if (!all.length) {
      this.findings.add('target.unrecognised', { file: target, message: 'no data file (.parquet, .arrow, .jsonl, .tar) to check' });
    } else if (all.every((x) => x.rows === 0)) {
      this.findings.add('target.empty', { file: target, message: 'its data files hold no rows' });
    }
  }

  /** Rule 4: rows read against files[].rows, splits.*.rows and the card's num_examples. */
  rowCounts(manifest: DatasetManifest, card: CardSplits | null): void {
    const f = this.findings;
    const listedRows = new Map(manifest.files.map((x) => [x.path, x.rows]));
    // Rows read per format and split; NaN once any file of it was unreadable.
    const read = new Map<string, number>();
    for (const x of this.files) {
      const want = listedRows.get(x.path);
      if (x.rows !== null && typeof want === 'number' && want !== x.rows) {
        f.add('dataset.row_count_mismatch', {
          file: x.path,
          message: `${x.rows} rows read, ${DATASET_MANIFEST_FILE} files[] says ${want}`,
        });
      }
      const key = `${x.format}\0${x.split}`;
      read.set(key, (read.get(key) ?? 0) + (x.rows ?? Number.NaN));
    }
    const splits = Object.entries(manifest.splits);
    for (const format of manifest.formats) {
      for (const [split, s] of splits) {
        const n = read.get(`${format}\0${split}`) ?? 0;
        if (Number.isNaN(n) || n === s.rows) continue;
        f.add('dataset.row_count_mismatch', {
          file: DATASET_MANIFEST_FILE,
          message: `${format} split ${split}: ${n} rows read, splits.${split}.rows says ${s.rows}`,
        });
      }
    }
    for (const x of this.files) {
      if (!(x.split in manifest.splits)) {
        f.add('dataset.row_count_mismatch', {
          file: x.path,
          message: `split ${x.split} is not among the splits of ${DATASET_MANIFEST_FILE}`,
        });
      }
    }
    if (!card) return;
    // What `datasets` verifies: num_examples against the rows of the files it loads.
    const cardFormat: Format | null = manifest.formats.includes('parquet') ? 'parquet' : null;
    for (const [split, n] of card) {
      const actual = cardFormat ? (read.get(`${cardFormat}\0${split}`) ?? 0) : (manifest.splits[split]?.rows ?? 0);
      if (Number.isNaN(actual) || n === actual) continue;
      f.add('dataset.num_examples_mismatch', {
        file: 'README.md',
        message: `split ${split}: num_examples ${n}, ${cardFormat ? `the ${cardFormat} files have` : `${DATASET_MANIFEST_FILE} says`} ${actual} rows`,
      });
    }
    for (const [split] of splits) {
      if (!card.has(split))
        f.add('dataset.num_examples_mismatch', { file: 'README.md', message: `split ${split} is missing from dataset_info.splits` });
    }
  }
}

/** Why a parsed dataset-manifest.json cannot be used to check a dataset against, or null. */
export function manifestShapeProblem(m: unknown): string | null {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return 'not a JSON object';
  const o = m as Record<string, unknown>;
  if (
    !Array.isArray(o.files) ||
    !o.files.every((x) => typeof x === 'object' && x !== null && typeof (x as { path?: unknown }).path === 'string')
  )
    return 'files must be a list of {path, ...}';
  if (typeof o.splits !== 'object' || o.splits === null || Array.isArray(o.splits)) return 'splits must be an object';
  if (!Object.values(o.splits).every((s) => typeof (s as { rows?: unknown })?.rows === 'number')) return 'each split needs a rows count';
  if (!Array.isArray(o.formats) || !o.formats.every((x) => typeof x === 'string')) return 'formats must be a list';
  return null;
}
