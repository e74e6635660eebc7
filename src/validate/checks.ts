/**
 * Every check `validate` runs: a stable id (scripts and CI match on it), a severity, and a one-line
 * hint that says how to fix what it found. Errors fail the run; warnings only with --strict; notes never.
 */
export type Severity = 'error' | 'warning' | 'note';

export interface CheckDef {
  severity: Severity;
  hint: string;
}

const E = (hint: string): CheckDef => ({ severity: 'error', hint });
const W = (hint: string): CheckDef => ({ severity: 'warning', hint });
/** Shown, never failing: a fact the user must plan for that no re-write can change. */
const N = (hint: string): CheckDef => ({ severity: 'note', hint });

export const CHECKS = {
  // What was given (completeness.ts: what validate must see before it says clean)
  'target.not_found': E('the path, bucket or container does not exist: check the target'),
  'target.empty': E('the folder or prefix holds no files: nothing was checked'),
  'target.unrecognised': E(
    'no dataset-manifest.json, manifest.json or data file (.parquet, .arrow, .jsonl, .tar) found: nothing was checked',
  ),
  // Tar / WebDataset
  'wds.truncated': E('the shard ends early (unclosed writer or cut download): re-write or re-download it'),
  'wds.bad_checksum': E('a tar header is corrupt: re-write the shard'),
  'wds.trailing_garbage': E('bytes follow the end-of-archive blocks: re-write the shard (do not append to tars)'),
  'wds.non_regular_member': E('only regular files belong in shards: drop links, directories and devices'),
  'wds.unsafe_name': E('member names must be relative paths without "..", backslashes or NUL'),
  'wds.key_has_dot': E('readers split the key at the first dot of the basename: remove dots from keys'),
  'wds.non_adjacent_members': E('write all members of a sample contiguously (webdataset splits the sample silently)'),
  'wds.duplicate_member': E('each member name (and key, across the shards of a split) must be unique'),
  'wds.member_set_differs': E('every sample of a split needs the same member extensions'),
  'wds.empty_member': E('empty members fail to decode: re-write the sample'),
  'wds.member_too_large': W('a member is larger than validate reads into memory; frames and JSON should be small'),
  'wds.decompression_bomb': E('a compressed member inflates far beyond its size: drop it'),
  'wds.json_invalid': E('the sample .json must be valid JSON of modest depth'),
  'wds.json_schema_mismatch': E('the sample .json must carry the steps columns with the feature types'),
  'wds.index_mismatch': E('regenerate the wids index: nsamples/filesize must match the shards'),
  'wds.too_few_shards': W('use at least world_size x workers shards per split (convert --min-shards), or resampled=True'),
  'wds.uneven_shards': W(
    'uneven shards leave some ranks/workers short (DDP hangs): re-shard with equal counts (convert --world-size W --workers K)',
  ),
  'wds.uneven_rows': N(
    'the rows cannot be split equally over ranks x workers: cap each worker at the smallest count (e.g. webdataset .with_epoch) or use torch Join',
  ),
  // Frames (any format)
  'frame.undecodable': E('the frame bytes are not a decodable image: re-export the frame'),
  'frame.size_mismatch': E('the stored frame size does not match the row (viewport / image policy): re-convert'),
  'frame.missing': E('a row references a frame file that does not exist: re-convert or restore the frame'),
  // Parquet
  'parquet.bad_magic': E('not a complete Parquet file (magic/footer): the writer was not closed, re-write it'),
  'parquet.hf_metadata_missing': E('write the "huggingface" key/value metadata so datasets recovers Image/ClassLabel'),
  'parquet.hf_metadata_mismatch': E('the "huggingface" metadata must equal the dataset manifest features'),
  'parquet.non_nullable_field': E('make every field nullable: datasets silently drops the feature otherwise'),
  'parquet.image_struct_layout': E('Image must be struct<bytes: binary, path: string> in that order, or datasets drops it'),
  'parquet.classlabel_not_int64': E('store ClassLabel as int64: datasets silently turns other ints into Value'),
  'parquet.large_binary': E('use binary/string, not large_binary/large_string: datasets silently drops the feature'),
  'parquet.row_group_too_large': W('keep row groups to <=100 image rows and <=100 MB uncompressed (Hub viewer limit)'),
  'parquet.no_page_index': W('write a page index (offset index) so readers can seek within multi-page chunks'),
  // Arrow / save_to_disk
  'arrow.ipc_file_format': E('save_to_disk files must be Arrow IPC stream format; load_from_disk fails on the file format'),
  'arrow.unreadable': E('the Arrow stream cannot be read: re-write it'),
  'arrow.state_json_keys': E('state.json needs all seven keys and existing _data_files, or load_from_disk fails'),
  'arrow.features_mismatch': E('dataset_info.json features must match the manifest and the file schema exactly'),
  // Across the dataset
  'dataset.manifest_missing': E(
    'a folder of data files without dataset-manifest.json is not a complete dataset (convert writes it last; an interrupted convert leaves none): re-convert, or name the files to check them alone',
  ),
  'dataset.file_unlisted': E('a data file is present but not listed in dataset-manifest.json (stale or foreign): remove it or re-convert'),
  'dataset.row_count_mismatch': E('the rows read differ from the counts in dataset-manifest.json: files were cut or edited, re-convert'),
  'dataset.file_missing': E('a file listed in dataset-manifest.json is missing: re-convert or re-download'),
  'dataset.file_size_mismatch': E('a file differs in size from dataset-manifest.json: it was changed or cut'),
  'dataset.file_sha256_mismatch': E('a file differs from its sha256 in dataset-manifest.json: it was changed'),
  'dataset.num_examples_mismatch': E('README num_examples must equal the rows (datasets refuses to load otherwise)'),
  'dataset.unreadable_metadata': E('dataset-manifest.json / README.md cannot be parsed: re-convert'),
  'rows.order': E('rows must be ordered by (session_id, t_ms) within a split'),
  'rows.step_gap': E('step must count 0, 1, 2, ... within each session'),
  'rows.classlabel_out_of_range': E('ClassLabel ids must index the label vocabulary'),
  'rows.coord_outside_image': E('action coordinates must lie inside the stored image: check rescaling'),
  'rows.norm_inconsistent': E('x_norm/y_norm must equal x/width and y/height of the stored image'),
  'rows.unreadable': E('a row cannot be read: re-convert the file'),
  'leakage.session_in_two_splits': E('split by session: a session must be in exactly one split'),
  'leakage.duplicate_frame': W('the same frame is in two splits: dedupe, or split so near-identical sessions stay together'),
  // Privacy
  'privacy.card_number': E('a card number (Luhn-valid) looks unmasked: mask it at capture and re-export'),
  'privacy.email': E('an e-mail address looks unmasked: mask it at capture and re-export'),
  'privacy.phone': W('a phone number looks unmasked: mask it at capture and re-export'),
  'privacy.iban': E('an IBAN (mod-97 valid) looks unmasked: mask it at capture and re-export'),
  'privacy.ssn': E('a US SSN looks unmasked: mask it at capture and re-export'),
  'privacy.api_key': E('an API key / token looks unmasked: revoke it, mask it and re-export'),
  // Exports
  'export.manifest_count_mismatch': E('manifest.json counts must equal what the export contains'),
  'export.frame_missing': E('a row references a frame that is missing: re-export'),
  'export.frame_unreadable': E('a referenced frame is not an image: re-export'),
  'export.unreadable': E('the export cannot be read to the end: see the message'),
} as const satisfies Record<string, CheckDef>;

export type CheckId = keyof typeof CHECKS;
