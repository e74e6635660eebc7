/**
 * The dataset card (README.md): YAML front matter that `datasets` and the Hub read, then the prose a
 * training engineer reads before spending GPU hours on the data.
 *
 * Facts from reference/hf-datasets.md §4: `configs` must declare ONE file format (the Hub picks the
 * builder from the first config's files), `dataset_info.splits[].num_examples` is verified by
 * `datasets` (must be exact), `dataset_info.features` overrides the file schema.
 */
import { stringify } from 'yaml';
import type { DatasetFile, DatasetManifest, OutputFormat } from './dataset-manifest.ts';
import { STEPS_TASK_CATEGORIES } from './hub-metadata.ts';

export interface CardInput {
  manifest: DatasetManifest;
  /** Features in the README YAML list form (`Features._to_yaml_list`). */
  featuresYaml: unknown[];
  /** Uncompressed size estimate per split (dataset_info.splits[].num_bytes; not verified by datasets). */
  splitNumBytes: Record<string, number>;
  /** One example row (image left out) shown in the prose. */
  example?: Record<string, unknown>;
  license?: string;
  tags?: string[];
  prettyName?: string;
  /** Hub repo id if known (`org/name`), used in the loading snippets. */
  repoId?: string;
}

/** Which format the card's single `configs` entry declares: the first present of these. */
const CONFIG_FORMAT_ORDER: OutputFormat[] = ['parquet', 'arrow'];

export function configFormat(formats: OutputFormat[]): OutputFormat | null {
  return CONFIG_FORMAT_ORDER.find((f) => formats.includes(f)) ?? null;
}

function configDataFiles(format: OutputFormat, splits: string[]): Array<{ split: string; path: string }> {
  return splits.map((split) => ({
    split,
    path: format === 'parquet' ? `data/${split}-*` : `arrow/${split}/data-*.arrow`,
  }));
}

function sizeCategory(n: number): string {
  const bounds: Array<[number, string]> = [
    [1e3, 'n<1K'], [1e4, '1K<n<10K'], [1e5, '10K<n<100K'], [1e6, '100K<n<1M'],
    [1e7, '1M<n<10M'], [1e8, '10M<n<100M'], [1e9, '100M<n<1B'],
  ];
  for (const [limit, label] of bounds) if (n < limit) return label;
  return '1B<n<10B';
}

function frontMatter(input: CardInput): string {
  const m = input.manifest;
  const splits = Object.keys(m.splits);
  const totalRows = splits.reduce((a, s) => a + m.splits[s]!.rows, 0);
  const fmt = configFormat(m.formats);
  const downloadSize = fmt
    ? m.files.filter((f) => f.format === fmt).reduce((a, f) => a + f.bytes, 0)
    : 0;
  const splitInfo = splits.map((name) => ({
    name,
    num_bytes: input.splitNumBytes[name] ?? 0,
    num_examples: m.splits[name]!.rows,
  }));
  const doc: Record<string, unknown> = {};
  if (input.license) doc.license = input.license;
  if (input.prettyName) doc.pretty_name = input.prettyName;
  doc.task_categories = [...STEPS_TASK_CATEGORIES];
  doc.tags = [...new Set(['computer-use', 'gui-agent', 'screenshots', ...(input.tags ?? [])])];
  doc.size_categories = [sizeCategory(totalRows)];
  if (fmt) doc.configs = [{ config_name: 'default', data_files: configDataFiles(fmt, splits) }];
  doc.dataset_info = {
    features: input.featuresYaml,
    splits: splitInfo,
    download_size: downloadSize,
    dataset_size: splitInfo.reduce((a, s) => a + s.num_bytes, 0),
  };
  // lineWidth 0: never fold long strings, so the YAML is stable and greppable.
  return `---\n${stringify(doc, { lineWidth: 0 })}---\n`;
}

function countTable(title: string, counts: Record<string, number>): string {
  const rows = Object.entries(counts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  if (rows.length === 0) return '';
  return `| ${title} | rows |\n|---|---:|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`;
}

function filesOf(files: DatasetFile[], format: OutputFormat, split: string): string[] {
  return files.filter((f) => f.format === format && f.split === split).map((f) => f.path);
}

function loadingSection(input: CardInput): string {
  const m = input.manifest;
  const id = input.repoId ?? '<org/name or path to this folder>';
  const splits = Object.keys(m.splits);
  const first = splits[0] ?? 'train';
  const parts: string[] = ['## How to load'];
  if (configFormat(m.formats)) {
    parts.push(
      '### With `datasets`',
      '```python',
      'from datasets import load_dataset',
      '',
      `ds = load_dataset("${id}")  # add revision="<tag>" to pin a version`,
      `row = ds["${first}"][0]`,
      'row["image"]            # PIL image of the stored frame',
      'row["action"]["type"]   # ClassLabel id; names in ds["' + first + '"].features["action"]["type"].names',
      '```',
      '',
      '### With PyTorch',
      '```python',
      'from datasets import load_dataset',
      'from torch.utils.data import DataLoader',
      '',
      '# The guard lets DataLoader workers start by spawn (the default on macOS and Windows).',
      'if __name__ == "__main__":',
      `    ds = load_dataset("${id}", split="${first}").with_format("torch")`,
      '    # collate_fn=list: each batch stays a list of row dicts (rows hold strings and nulls);',
      '    # a builtin, so it pickles into spawned workers (a lambda does not).',
      '    loader = DataLoader(ds, batch_size=32, num_workers=2, collate_fn=list)',
      '    batch = next(iter(loader))',
      '    print(len(batch), batch[0]["action"]["type"])',
      '```',
    );
  }
  if (m.formats.includes('webdataset')) {
    // Only the tars: the split's wids index is listed under the same format but is not a shard.
    const shards = filesOf(m.files, 'webdataset', first).filter((p) => p.endsWith('.tar'));
    parts.push(
      '',
      '### WebDataset shards (`webdataset/`)',
      `Tar shards per split (\`webdataset/{split}-NNNNNN.tar\`), one sample per step: the frame (\`.webp\`/\`.jpg\`/\`.png\`) and \`.json\` with every other column. In \`.json\`, \`session_id\`, \`step\`, \`t_ms\`, \`image_path\`, \`action_type\` (name) and \`action_type_id\` are typed; every value that can be null (\`viewport\`, \`action\`, \`prior_action\`, \`context\`, \`dom\`, \`accessibility_tree\`, \`extra\`) is JSON text, so its type never changes between samples (\`json.loads\` gives the Parquet value). Index files \`webdataset/{split}.index.json\` (wids format) give sample counts. They are not declared in \`configs\` above (the Hub infers one builder from the first config).`,
      '```python',
      'from datasets import load_dataset',
      `ds = load_dataset("webdataset", data_files={"${first}": ${JSON.stringify(shards.length ? shards : [`webdataset/${first}-*.tar`])}}, split="${first}")`,
      '```',
      'With plain PyTorch, iterate the tar members in order: members of one sample are adjacent and share the key before the first dot. Shard counts per split are balanced for `world_size x num_workers` when converted with `--world-size/--workers`.',
    );
  }
  if (m.formats.includes('arrow')) {
    parts.push('', '### Arrow (`arrow/`, `save_to_disk` layout)', '```python', 'from datasets import load_from_disk', 'dd = load_from_disk("arrow")', '```');
  }
  return parts.join('\n') + '\n';
}

/** The convert-side filters in words, with the rows each one dropped. */
function convertFilters(m: DatasetManifest): string {
  const summary = typeof m.options.filter_summary === 'string' ? m.options.filter_summary : 'none';
  const dropped = Object.entries(m.filtered).map(([f, n]) => `${f}: ${n}`);
  return dropped.length ? `${summary} (rows dropped: ${dropped.join(', ')})` : summary;
}

function appendedLabels(m: DatasetManifest): string[] {
  const a = m.labels_appended;
  if (!a.action_type.length && !a.outcome.length) return [];
  return [`Labels new in this version (appended after the known/pinned ones): ${JSON.stringify(a)}.`];
}

export function renderCard(input: CardInput): string {
  const m = input.manifest;
  const src = m.source_manifest;
  const title = input.prettyName ?? `${String(src.workflow ?? 'session')} steps`;
  const splitLines = Object.entries(m.splits)
    .map(([name, s]) => `| ${name} | ${s.rows} | ${s.sessions} |`)
    .join('\n');
  const viewports = m.viewports.map((v) => `| ${v.w}×${v.h} | ${v.rows} |`).join('\n');
  const body = [
    `# ${title}`,
    '',
    'Frame/action pairs from session captures, one row per step, converted with nusomi-hf.',
    '',
    '## Source',
    `- export: \`${String(src.export_id)}\` (workflow \`${String(src.workflow)}\`, format ${String(src.format)}, created ${String(src.created_at)})`,
    `- export filter (applied by the exporter): ${String(src.filter_summary ?? '') || '(none)'}`,
    `- convert filters: ${convertFilters(m)}`,
    `- rows skipped as bad input (\`--on-error skip\`): ${m.skipped.count}${m.skipped.count ? ' (' + Object.entries(m.skipped.reasons).map(([r, n]) => `${r}: ${n}`).join('; ') + ')' : ''}`,
    `- images: ${m.image.mode === 'passthrough' ? 'stored as captured (bytes unchanged)' : `re-encoded to ${m.image.format}${m.image.max_side ? `, longest side ≤ ${m.image.max_side}px` : ''}`}; coordinates \`x\`, \`y\` are pixels of the stored image, \`x_norm\`, \`y_norm\` are relative to it.`,
    '',
    '## Splits (by session: no session is in two splits)',
    '| split | rows | sessions |',
    '|---|---:|---:|',
    splitLines,
    '',
    '## Contents',
    countTable('workflow', m.stats.workflows),
    countTable('outcome', m.stats.outcomes),
    countTable('action type', m.stats.action_types),
    countTable('actor kind', m.stats.actor_kinds),
    '| viewport (capture) | rows |',
    '|---|---:|',
    viewports,
    '',
    `Label ids: \`action.type\` = ${JSON.stringify(m.labels.action_type)}; \`outcome\` = ${JSON.stringify(m.labels.outcome)} (ids are list positions and stay stable across versions).`,
    ...appendedLabels(m),
    '',
  ];
  if (input.example) {
    body.push('## Example row (image left out)', '```json', JSON.stringify(input.example, null, 2), '```', '');
  }
  body.push(loadingSection(input));
  return frontMatter(input) + '\n' + body.join('\n');
}
