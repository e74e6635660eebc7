/**
 * The public library: what `import { ... } from 'nusomi-hf'` gives. One function per file under
 * src/api/, each taking one params object and returning plain data (what the matching CLI command
 * prints with `--json`). Everything else under src/ is internal and may change in any release.
 */
export { convert } from './api/convert.ts';
export type {
  ConvertParams,
  ConvertSummary,
  FilterOptions,
  FrameOptions,
  OutputFormat,
  SplitOptions,
  WdsOptions,
} from './api/convert.ts';
export { convertPartition, finalizeConvert, planConvert } from './api/partitioned-convert.ts';
export type { PartitionResult, PartitionSpec, PlanResult } from './api/partitioned-convert.ts';
export { generateLoaders } from './api/generate-loaders.ts';
export type { GenerateLoadersParams, GenerateLoadersResult, LoaderOrigin, LoaderTarget } from './api/generate-loaders.ts';
export type { InputLimits, InputParams } from './api/input.ts';
export { inspect } from './api/inspect.ts';
export type { InspectParams, InspectReport } from './api/inspect.ts';
export { openExport } from './api/open-export.ts';
export type {
  Action,
  Context,
  ExportManifest,
  Frame,
  FrameImage,
  Json,
  JsonObject,
  OpenedExport,
  OpenExportParams,
  ReadCounts,
  SkipReport,
  Step,
  StepOrigin,
} from './api/open-export.ts';
export { push } from './api/push.ts';
export type { PushParams, PushProgressEvent, PushSummary } from './api/push.ts';
export { report } from './api/report.ts';
export type { ReportParams, ReportResult } from './api/report.ts';
export { ServedHub, serveHub } from './api/serve-hub.ts';
export type { ServeHubParams, ServerToken, TokenRole } from './api/serve-hub.ts';
export { validate } from './api/validate.ts';
export type { CheckResult, DecodeMode, FindingExample, ValidateParams, ValidationReport } from './api/validate.ts';
export { AbortError } from './abort.ts';
export type { ConvertPhase, ConvertProgressEvent, ProgressCounts, ProgressEvent, PushPhase } from './progress.ts';
export { IntegrityError, InputError, NusomiError, RemoteError, UsageError } from './errors.ts';
export type { Where } from './errors.ts';
