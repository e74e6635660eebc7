/** convert's defaults, apart so the plan, write and manifest steps share them without a cycle. */
export const DEFAULT_SPLIT = 'train=0.9,validation=0.05,test=0.05';
export { DEFAULT_MAX_SHARD_BYTES } from '../formats/columnar.ts';
