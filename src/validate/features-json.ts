/**
 * The manifest's features (`Features.to_dict()` JSON) read back: where the Image and ClassLabel
 * columns are, and JSON equality. (The Features model for Arrow types is built in arrow.ts: it
 * loads apache-arrow, which a shards-only run should not pay for at start-up.)
 */
import type { JsonFeatures } from './context.ts';

export interface FeaturePaths {
  images: string[];
  /** Column path → number of names. */
  classLabels: Record<string, number>;
}

export function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function featurePaths(features: JsonFeatures): FeaturePaths {
  const out: FeaturePaths = { images: [], classLabels: {} };
  const walk = (prefix: string, f: unknown): void => {
    if (!isObj(f)) return;
    if (f._type === 'Image') out.images.push(prefix);
    else if (f._type === 'ClassLabel') out.classLabels[prefix] = Array.isArray(f.names) ? f.names.length : 0;
    else if (f._type === 'List') walk(`${prefix}.element`, f.feature);
    else if (f._type === undefined) for (const [k, v] of Object.entries(f)) walk(prefix ? `${prefix}.${k}` : k, v);
  };
  walk('', features);
  return out;
}

/** Key-order-insensitive JSON equality (features are plain JSON). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  if (!isObj(a) || !isObj(b)) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => k in b && sameJson(a[k], b[k]));
}
