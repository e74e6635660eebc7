/**
 * A vendor's WebDataset shard given to `validate` on its own (no manifest.json beside it) is
 * checked as an export, not against the dataset's sample layout: its samples carry the vendor's
 * row (`frame`, `action` objects), ours carry the steps columns (`image_path`, `action_type_id`).
 */
import type { Source, SourceEntry } from '../source/types.ts';
import { scanTar } from './tar-scan.ts';

const MAX_SNIFF_MEMBERS = 16;
const MAX_SNIFF_JSON = 1 << 20;

/** Whether the first sample of a tar looks like a vendor export row rather than a dataset sample. */
export async function isVendorTar(source: Source, tar: string): Promise<boolean> {
  // Vendor shards may keep their rows in a `{shard}.jsonl` sidecar; our shards never have one.
  if (await source.exists(tar.replace(/\.tar$/i, '.jsonl'))) return true;
  let seen = 0;
  const chunks = source.stream(tar)[Symbol.asyncIterator]();
  const events = scanTar(
    { [Symbol.asyncIterator]: () => chunks },
    { totalSize: await source.size(tar), maxData: MAX_SNIFF_JSON, want: (n) => n.endsWith('.json') },
  );
  try {
    for await (const ev of events) {
      if (ev.kind === 'problem' || ++seen > MAX_SNIFF_MEMBERS) return false;
      if (!ev.data) continue;
      try {
        const j = JSON.parse(Buffer.from(ev.data).toString('utf8')) as Record<string, unknown>;
        return typeof j === 'object' && j !== null && !('image_path' in j) && typeof j.frame === 'object' && typeof j.action === 'object';
      } catch {
        return false; // not JSON: the dataset checks report it
      }
    }
    return false;
  } finally {
    await chunks.return?.(); // only the first members were read: close the file
  }
}

/**
 * The loose tars as an export root: the source with a stand-in manifest.json that names them.
 * Its counts are zeros and are not compared (there is no manifest to hold the export to).
 */
export function looseExportSource(source: Source, tars: string[]): Source {
  const manifest = new TextEncoder().encode(
    JSON.stringify({
      export_id: tars[0],
      workflow: '',
      format: 'webdataset',
      rows: 0,
      shards: tars.length,
      shard_size_bytes: 0,
      frames: 0,
      actions: 0,
      filter_summary: '',
      destination: '',
      created_at: '',
      files: tars.map((path) => ({ path })),
    }),
  );
  const sidecars = new Set(tars.map((t) => t.replace(/\.tar$/i, '.jsonl')));
  const mine = (p: string): boolean => tars.includes(p) || sidecars.has(p);
  return {
    root: source.root,
    async list(keep?: (p: string) => boolean): Promise<SourceEntry[]> {
      return await source.list((p) => mine(p) && (!keep || keep(p)));
    },
    exists: async (p) => p === 'manifest.json' || source.exists(p),
    size: async (p) => (p === 'manifest.json' ? manifest.length : source.size(p)),
    read: async (p, range) => (p === 'manifest.json' ? manifest.slice(range?.start ?? 0, range?.end) : source.read(p, range)),
    stream: (p) => source.stream(p),
    describe: (p) => source.describe(p),
  };
}
