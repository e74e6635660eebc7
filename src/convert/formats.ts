/** The output formats `convert` writes (its own module so the CLI can list them without loading convert). */
import type { OutputFormat } from '../hf/dataset-manifest.ts';

export const ALL_FORMATS: readonly OutputFormat[] = ['parquet', 'arrow', 'jsonl', 'webdataset'];
