/**
 * Split names `datasets` accepts: words of letters, digits and `_`, joined by single dots
 * (`datasets.splits.NamedSplit` checks `^\w+(\.\w+)*$`; see
 * https://github.com/huggingface/datasets/blob/main/src/datasets/splits.py).
 */
export const SPLIT_NAME = /^\w+(\.\w+)*$/;
