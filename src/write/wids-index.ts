/**
 * `webdataset/{split}.index.json`: the wids shard index (format of `widsindex create`, wids 0.1 /
 * webdataset v0.x `wids/wids_index.py`). wids requires `wids_version: 1` and per shard `url` and
 * `nsamples`; it resolves relative urls against the index's own directory and maps a global sample
 * index through the cumulative nsamples, so they must be exact. md5sum is optional and unchecked by
 * the reader, so we leave it out (the manifest carries sha256).
 */
import type { Sink } from '../sink/types.ts';
import type { WdsShardInfo } from './webdataset.ts';
import { compareStrings } from '../util/compare.ts';

export interface WidsShardEntry {
  url: string;
  nsamples: number;
  filesize: number;
}

export interface WidsIndex {
  __kind__: 'wids-shard-index-v1';
  wids_version: 1;
  name: string;
  shardlist: WidsShardEntry[];
}

/** `webdataset/{split}.index.json` */
export function widsIndexPath(split: string): string {
  return `webdataset/${split}.index.json`;
}

export function buildWidsIndex(split: string, shards: readonly WdsShardInfo[], name: string = split): WidsIndex {
  const dir = 'webdataset/';
  const shardlist = shards.map((s) => {
    if (!s.path.startsWith(dir) || s.path.slice(dir.length).includes('/')) {
      throw new Error(`shard ${s.path} is not beside ${widsIndexPath(split)}`);
    }
    return { url: s.path.slice(dir.length), nsamples: s.rows, filesize: s.bytes };
  });
  // widsindex sorts by url; our zero-padded names already are, this keeps it true for any input order.
  shardlist.sort((a, b) => compareStrings(a.url, b.url));
  return { __kind__: 'wids-shard-index-v1', wids_version: 1, name, shardlist };
}

/** Writes the index (JSON, indent 2 like `widsindex`, trailing newline); returns its path, size and sha256. */
export async function writeWidsIndex(
  sink: Sink,
  split: string,
  shards: readonly WdsShardInfo[],
  name?: string,
): Promise<{ path: string; bytes: number; sha256: string }> {
  const path = widsIndexPath(split);
  const text = JSON.stringify(buildWidsIndex(split, shards, name), null, 2) + '\n';
  const r = await sink.writeFile(path, new TextEncoder().encode(text));
  return { path, ...r };
}
