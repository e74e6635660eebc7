/**
 * The dataset card (README.md): YAML front matter that `datasets` and the Hub read, then the prose a
 * training engineer reads before spending GPU hours on the data.
 *
 * What `datasets` does with the YAML (datasets/load.py): the packaged builder (parquet, arrow,
 * webdataset) is inferred from the FIRST config's files and used for every config, so a card can
 * only declare configs of one file format; `dataset_info.splits[].num_examples` is verified (must
 * be exact); `dataset_info.features` overrides the file schema (so WebDataset, whose samples are
 * not the Parquet rows, gets a config without features).
 */
import { parse as parseYaml, stringify } from 'yaml';
import { mismatchText } from '../export/manifest-check.ts';
import { lostFileText } from './dataset-manifest.ts';
import type { CoordinateFields, DatasetManifest, OutputFormat } from './dataset-manifest.ts';
import { STEPS_TASK_CATEGORIES } from './hub-metadata.ts';
import { compareStrings } from '../util/compare.ts';
import { formatModule, formatModules } from '../formats/registry.ts';
import { configModule, EXTRA_CONFIG_NAMES } from '../configs/registry.ts';
import type { ExtraConfigName } from '../configs/registry.ts';

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

/** The formats a card's `configs` can declare, in order of preference, with their file globs per split. */
const CONFIG_FORMAT_ORDER: OutputFormat[] = formatModules()
  .filter((m) => m.card)
  .sort((a, b) => a.card!.rank - b.card!.rank)
  .map((m) => m.name);

export function configFormat(formats: readonly OutputFormat[]): OutputFormat | null {
  return CONFIG_FORMAT_ORDER.find((f) => formats.includes(f)) ?? null;
}

/** Name of the card's config: `default` for the Parquet/Arrow/JSON Lines rows, `webdataset` for the tar samples. */
export function configName(format: OutputFormat): string {
  return formatModule(format).card?.configName ?? 'default';
}

function configDataFiles(format: OutputFormat, splits: string[]): Array<{ split: string; path: string }> {
  const glob = formatModule(format).card!.glob;
  return splits.map((split) => ({ split, path: glob(split) }));
}

/**
 * The extra configs (src/configs) the card declares: those in the manifest, when the first config
 * is Parquet (they are Parquet, and `datasets` reads every config with the first one's builder).
 */
function extraConfigs(m: DatasetManifest, formats: readonly OutputFormat[]): ExtraConfigName[] {
  if (!m.configs || (!withoutSteps(formats) && configFormat(formats) !== 'parquet')) return [];
  return EXTRA_CONFIG_NAMES.filter((n) => m.configs![n]);
}

/** A dataset of extra configs only (`convert --configs sft`): no `steps` formats, no `data/`. */
function withoutSteps(formats: readonly OutputFormat[]): boolean {
  return formats.length === 0;
}

/** The `configs` entries for the formats present, or undefined when none of them is a config format. */
function configsFor(m: DatasetManifest, formats: readonly OutputFormat[], splits: string[]): unknown[] | undefined {
  const extra = extraConfigs(m, formats).map((c) => ({
    config_name: c,
    data_files: Object.keys(m.configs![c]!.splits).map((split) => ({ split, path: `${m.configs![c]!.folder}${split}-*` })),
  }));
  // Without steps, the first extra config is the default: `load_dataset(repo)` reads it.
  if (withoutSteps(formats)) return extra.length ? extra.map((e, i) => (i === 0 ? { ...e, default: true } : e)) : undefined;
  const fmt = configFormat(formats);
  if (!fmt) return undefined;
  const name = configName(fmt);
  return [{ config_name: name, data_files: configDataFiles(fmt, splits), ...(name === 'default' ? {} : { default: true }) }, ...extra];
}

/**
 * `dataset_info`: one mapping for the one config, or a list with `config_name` per config when
 * extra configs are declared. An extra config's features come from its Parquet files' metadata.
 */
function datasetInfoAll(
  m: DatasetManifest,
  formats: readonly OutputFormat[],
  featuresYaml: unknown,
  splitNumBytes: Record<string, number>,
): Record<string, unknown> | Record<string, unknown>[] {
  const info = datasetInfoFor(m, formats, featuresYaml, splitNumBytes);
  const extra = extraConfigs(m, formats);
  if (!extra.length) return info;
  const byConfig = extra.map((c) => {
    const splits = Object.entries(m.configs![c]!.splits).map(([name, s]) => ({ name, num_bytes: 0, num_examples: s.rows }));
    const files = m.files.filter((f) => f.config === c);
    return { config_name: c, splits, download_size: files.reduce((a, f) => a + f.bytes, 0), dataset_size: 0 };
  });
  if (withoutSteps(formats)) return byConfig;
  return [{ config_name: configName(configFormat(formats)!), ...info }, ...byConfig];
}

/**
 * `dataset_info` for the config: features only for the Parquet/Arrow rows (WebDataset samples are
 * typed by their members, JSON Lines rows by their JSON); split counts are the rows either way.
 */
function datasetInfoFor(
  m: DatasetManifest,
  formats: readonly OutputFormat[],
  featuresYaml: unknown,
  splitNumBytes: Record<string, number>,
): Record<string, unknown> {
  const fmt = configFormat(formats);
  const splits = Object.keys(m.splits).map((name) => ({ name, num_bytes: splitNumBytes[name] ?? 0, num_examples: m.splits[name]!.rows }));
  const info: Record<string, unknown> = {};
  if (fmt === 'webdataset') info.config_name = 'webdataset';
  // JSON Lines rows name their frame by path: the Parquet features (an Image column) do not fit them.
  else if (featuresYaml !== undefined && fmt !== 'jsonl') info.features = featuresYaml;
  info.splits = splits;
  info.download_size = fmt ? m.files.filter((f) => f.format === fmt && !f.config).reduce((a, f) => a + f.bytes, 0) : 0;
  info.dataset_size = splits.reduce((a, s) => a + s.num_bytes, 0);
  return info;
}

function sizeCategory(n: number): string {
  const bounds: Array<[number, string]> = [
    [1e3, 'n<1K'],
    [1e4, '1K<n<10K'],
    [1e5, '10K<n<100K'],
    [1e6, '100K<n<1M'],
    [1e7, '1M<n<10M'],
    [1e8, '10M<n<100M'],
    [1e9, '100M<n<1B'],
  ];
  for (const [limit, label] of bounds) if (n < limit) return label;
  return '1B<n<10B';
}

function frontMatter(input: CardInput): string {
  const m = input.manifest;
  const splits = Object.keys(m.splits);
  const totalRows = splits.reduce((a, s) => a + m.splits[s]!.rows, 0);
  const doc: Record<string, unknown> = {};
  if (input.license) doc.license = input.license;
  if (input.prettyName) doc.pretty_name = input.prettyName;
  doc.task_categories = [...STEPS_TASK_CATEGORIES];
  doc.tags = [...new Set(['computer-use', 'gui-agent', 'screenshots', ...(input.tags ?? [])])];
  doc.size_categories = [sizeCategory(totalRows)];
  const configs = configsFor(m, m.formats, splits);
  if (configs) doc.configs = configs;
  doc.dataset_info = datasetInfoAll(m, m.formats, input.featuresYaml, input.splitNumBytes);
  return yamlBlock(doc);
}

// lineWidth 0: never fold long strings, so the YAML is stable and greppable.
const yamlBlock = (doc: Record<string, unknown>): string => `---\n${stringify(doc, { lineWidth: 0 })}---\n`;

function countTable(title: string, counts: Record<string, number>): string {
  const rows = Object.entries(counts).sort((a, b) => b[1] - a[1] || compareStrings(a[0], b[0]));
  if (rows.length === 0) return '';
  return `| ${title} | rows |\n|---|---:|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`;
}

/** Where the snippets find the dataset: a Hub repo (at a branch) or, for a local card, a placeholder. */
export interface CardLocation {
  repoId?: string;
  /** Branch the card is pushed to; snippets name it when it is not main. */
  branch?: string;
}

const LOADING_HEADING = '## How to load';

function loadingSection(m: DatasetManifest, formats: readonly OutputFormat[], where: CardLocation): string {
  const id = where.repoId ?? '<org/name or path to this folder>';
  const rev = where.branch && where.branch !== 'main' ? where.branch : undefined;
  // A git ref may hold a quote: written as a Python string literal, it cannot break the snippet.
  const revArg = rev ? `, revision=${JSON.stringify(rev)}` : '';
  // hf:// paths work from any working directory; a local card cannot know its own absolute path,
  // so its snippet names the folder in one variable.
  const root = where.repoId ? `hf://datasets/${where.repoId}${rev ? `@${encodeURIComponent(rev)}` : ''}` : undefined;
  const splits = Object.keys(m.splits);
  const first = splits[0] ?? 'train';
  const fmt = configFormat(formats);
  const parts: string[] = [LOADING_HEADING];
  if (withoutSteps(formats)) {
    parts.push(
      '### With `datasets`',
      '```python',
      'from datasets import load_dataset',
      '',
      ...extraConfigs(m, formats).map(
        (c) => `${c} = load_dataset("${id}", "${c}"${revArg})  # the ${c} config; add revision="<tag>" to pin a version`,
      ),
      '```',
    );
  }
  if (fmt === 'parquet' || fmt === 'arrow') {
    parts.push(
      '### With `datasets`',
      '```python',
      'from datasets import load_dataset',
      '',
      `ds = load_dataset("${id}"${revArg})  # add revision="<tag>" to pin a version`,
      `row = ds["${first}"][0]`,
      'row["image"]            # PIL image of the stored frame',
      'row["action"]["type"]   # ClassLabel id; names in ds["' + first + '"].features["action"]["type"].names',
      ...extraConfigs(m, formats).map((c) => `${c} = load_dataset("${id}", "${c}"${revArg})  # the ${c} config`),
      '```',
      '',
      '### With PyTorch',
      '```python',
      'from datasets import load_dataset',
      'from torch.utils.data import DataLoader',
      '',
      '# The guard lets DataLoader workers start by spawn (the default on macOS and Windows).',
      'if __name__ == "__main__":',
      `    ds = load_dataset("${id}", split="${first}"${revArg})`,
      '    # Frames as uint8 tensors; the other columns stay Python values (strings, nulls and the',
      '    # started_at timestamp, which torch cannot hold).',
      '    ds = ds.with_format("torch", columns=["image"], output_all_columns=True)',
      '    # collate_fn=list: each batch stays a list of row dicts (rows hold strings and nulls);',
      '    # a builtin, so it pickles into spawned workers (a lambda does not).',
      '    loader = DataLoader(ds, batch_size=32, num_workers=2, collate_fn=list)',
      '    batch = next(iter(loader))',
      '    print(len(batch), tuple(batch[0]["image"].shape), batch[0]["action"]["type"])',
      '```',
    );
  }
  if (fmt === 'jsonl') {
    const frame = where.repoId
      ? `Image.open(hf_hub_download("${id}", "jsonl/" + row["image"], repo_type="dataset"${revArg}))`
      : 'Image.open(f"{root}/jsonl/{row[\'image\']}")';
    parts.push(
      '### With `datasets` (JSON Lines)',
      '```python',
      'from datasets import load_dataset',
      ...(where.repoId ? ['from huggingface_hub import hf_hub_download'] : []),
      'from PIL import Image',
      '',
      ...(where.repoId ? [] : ['root = "."  # the folder that holds this README (an absolute path works from anywhere)']),
      `ds = load_dataset(${where.repoId ? `"${id}"` : 'root'}${revArg})  # add revision="<tag>" to pin a version`,
      `row = ds["${first}"][0]`,
      `image = ${frame}  # row["image"] is the frame's path under jsonl/`,
      '```',
    );
  }
  if (formats.includes('webdataset')) {
    parts.push(
      '',
      '### WebDataset shards (`webdataset/`)',
      `Tar shards per split (\`webdataset/{split}-NNNNNN.tar\`), one sample per step: the frame (\`.webp\`/\`.jpg\`/\`.png\`) and \`.json\` with every other column. In \`.json\`, \`session_id\`, \`step\`, \`t_ms\`, \`image_path\`, \`action_type\` (name) and \`action_type_id\` are typed; every value that can be null (\`viewport\`, \`action\`, \`prior_action\`, \`context\`, \`dom\`, \`accessibility_tree\`, \`extra\`) is JSON text, so its type never changes between samples (\`json.loads\` gives the Parquet value). Index files \`webdataset/{split}.index.json\` (wids format) give sample counts.`,
      '```python',
      'from datasets import load_dataset',
    );
    if (fmt === 'webdataset') {
      parts.push(`ds = load_dataset("${id}", "webdataset"${revArg})  # the card's config; add revision="<tag>" to pin a version`);
    } else if (root) {
      parts.push(`ds = load_dataset("webdataset", data_files={"${first}": "${root}/webdataset/${first}-*.tar"}, split="${first}")`);
    } else {
      parts.push(
        'root = "."  # the folder that holds this README (an absolute path works from anywhere)',
        `ds = load_dataset("webdataset", data_files={"${first}": f"{root}/webdataset/${first}-*.tar"}, split="${first}")`,
      );
    }
    parts.push('```');
    if (fmt !== 'webdataset') {
      parts.push(
        `The tars are not a config of this card: \`datasets\` reads every config of a dataset with the one builder it infers from the first config's files, so they are read with the \`webdataset\` builder and their own member types${root ? '. To pin a version, put `@<tag>` after the repo id in the path' : ''}.`,
      );
    }
    parts.push(
      'With plain PyTorch, iterate the tar members in order: members of one sample are adjacent and share the key before the first dot. Shard counts per split are balanced for `world_size x num_workers` when converted with `--world-size/--workers`.',
    );
  }
  if (formats.includes('arrow') && !where.repoId) {
    parts.push(
      '',
      '### Arrow (`arrow/`, `save_to_disk` layout)',
      '```python',
      'from datasets import load_from_disk',
      'dd = load_from_disk("arrow")',
      '```',
    );
  }
  return parts.join('\n') + '\n';
}

/**
 * The card as published to a Hub repo: the convert card with its `configs`, `dataset_info` and
 * loading snippets rewritten for the repo pushed to and the formats present there. Everything
 * else is kept as written. Same inputs, same bytes.
 */
export function cardForRepo(card: string, m: DatasetManifest, formats: readonly OutputFormat[], where: CardLocation): string {
  const fm = /^---\r?\n([\s\S]*?)\r?\n?---\r?\n/.exec(card);
  let doc: Record<string, unknown> = {};
  if (fm) {
    const parsed: unknown = parseYaml(fm[1]!);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) doc = parsed as Record<string, unknown>;
  }
  let body = fm ? card.slice(fm[0].length) : card;
  const splits = Object.keys(m.splits);
  // With extra configs, dataset_info is a list; the steps config's entry is the first.
  const info = Array.isArray(doc.dataset_info) ? (doc.dataset_info[0] as unknown) : doc.dataset_info;
  const oldInfo = (info && typeof info === 'object' && !Array.isArray(info) ? info : {}) as Record<string, unknown>;
  const numBytes = Object.fromEntries(
    (Array.isArray(oldInfo.splits) ? (oldInfo.splits as Array<{ name?: unknown; num_bytes?: unknown }>) : [])
      .filter((s) => typeof s?.name === 'string' && typeof s.num_bytes === 'number')
      .map((s) => [s.name as string, s.num_bytes as number]),
  );
  const configs = configsFor(m, formats, splits);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) if (k !== 'configs' && k !== 'dataset_info') out[k] = v;
  if (configs) out.configs = configs;
  if (Object.keys(oldInfo).length || configs) {
    const { config_name: _, ...kept } = oldInfo;
    out.dataset_info = datasetInfoAll(m, formats, kept.features, numBytes);
  }
  const at = body.lastIndexOf(`\n${LOADING_HEADING}\n`);
  body = (at === -1 ? `${body.replace(/\n*$/, '\n')}` : body.slice(0, at + 1)) + loadingSection(m, formats, where);
  return `${yamlBlock(out)}${body.startsWith('\n') ? '' : '\n'}${body}`;
}

/** The convert-side filters in words, with the rows each one dropped. */
function convertFilters(m: DatasetManifest): string {
  const summary = typeof m.options.filter_summary === 'string' ? m.options.filter_summary : 'none';
  const dropped = Object.entries(m.filtered).map(([f, n]) => `${f}: ${n}`);
  return dropped.length ? `${summary} (rows dropped: ${dropped.join(', ')})` : summary;
}

/** Which action fields are coordinates, in words (the manifest's `coordinates.fields`). */
function coordinateFields(f: CoordinateFields): string {
  const code = (keys: string[]) => keys.map((k) => `\`${k}\``).join(', ');
  return (
    [
      `columns ${code(f.columns.map((c) => `action.${c}`))} (and the same in \`prior_action\`)`,
      `anywhere in the action (\`args\` included): numbers under ${code(f.positions)}`,
      `\`[x, y]\` arrays under ${code(f.point_arrays)}`,
      `paths of points under ${code(f.paths)}`,
      `boxes under ${code(f.boxes_xywh)} (\`[x, y, w, h]\`, two corners \`[[x1, y1], [x2, y2]]\`, or an object of edges ${code(f.box_edges)} and sizes ${code(f.box_sizes)})`,
      `\`[x1, y1, x2, y2]\` under ${code(f.boxes_xyxy)}`,
      `not rescaled: ${code(f.not_coordinates)}`,
    ].join('; ') + '.'
  );
}

/** Whether the export manifest's counts matched what was read; a difference is a warning. */
function sourceCounts(m: DatasetManifest): string[] {
  const c = m.source_counts;
  if (!c) return [];
  if (c.consistent) return [`- export manifest counts match what was read (${c.checks.map((x) => `${x.field} ${x.actual}`).join(', ')})`];
  return [
    `- **warning**: the export manifest's counts differ from what was read: ${c.checks
      .filter((x) => !x.ok)
      .map(mismatchText)
      .join('; ')}`,
  ];
}

function appendedLabels(m: DatasetManifest): string[] {
  const a = m.labels_appended;
  if (!a.action_type.length && !a.outcome.length) return [];
  return [`Labels new in this version (appended after the known/pinned ones): ${JSON.stringify(a)}.`];
}

/** The extra configs' own sections (what a row holds, how it was made), when there are any. */
function configsSection(m: DatasetManifest): string[] {
  const names = EXTRA_CONFIG_NAMES.filter((n) => m.configs?.[n]);
  if (!names.length) return [];
  const out = ['## Configs', ''];
  if (withoutSteps(m.formats)) out.push('- no `steps` config (`data/`): this dataset was converted with `--configs` leaving it out.');
  else out.push('- `default`: the `steps` rows above (`data/`).');
  for (const n of names) out.push(`- \`${n}\`: ${configModule(n).summary} (\`${m.configs![n]!.folder}\`).`);
  out.push('');
  for (const n of names) out.push(configModule(n).cardSection(m), '');
  return out;
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
    `- rows skipped as bad input (\`--on-error skip\`): ${m.skipped.count}${
      m.skipped.count
        ? ' (' +
          Object.entries(m.skipped.reasons)
            .map(([r, n]) => `${r}: ${n}`)
            .join('; ') +
          ')'
        : ''
    }`,
    ...(m.skipped.files ?? []).map((f) => `  - ${lostFileText(f)}`),
    ...sourceCounts(m),
    `- images: ${m.image.mode === 'passthrough' ? 'stored as captured (bytes unchanged)' : `re-encoded to ${m.image.format}${m.image.max_side ? `, longest side ≤ ${m.image.max_side}px` : ''}`}; coordinates \`x\`, \`y\` are pixels of the stored image, \`x_norm\`, \`y_norm\` are relative to it.`,
    ...(m.coordinates.fields
      ? [`- coordinates (pixels of the stored image, rescaled with it): ${coordinateFields(m.coordinates.fields)}`]
      : []),
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
  if (input.example && !withoutSteps(m.formats)) {
    body.push('## Example row (image left out)', '```json', JSON.stringify(input.example, null, 2), '```', '');
  }
  body.push(...configsSection(m));
  body.push(loadingSection(m, m.formats, { repoId: input.repoId }));
  return frontMatter(input) + '\n' + body.join('\n');
}
