"""Reference (c) for `npm run bench`: the jsonl export to Parquet through Hugging Face `datasets`,
the way its docs suggest for custom data: Dataset.from_generator (which writes an Arrow cache file)
then Dataset.to_parquet.

    python bench/datasets_convert.py <export dir> <out.parquet> <cache dir>

The cache dir must be fresh (from_generator reuses a cached build with the same fingerprint).
The Parquet file is fsynced before the script ends, as nusomi-hf fsyncs each shard (the same
durable end state); its Arrow cache is a scratch file and is not."""
import os
import sys

from datasets import ClassLabel, Dataset, Features, Image, List, Value

from steps_rows import ACTION_TYPES, OUTCOMES, export_rows

# The features of nusomi-hf's `steps` table (src/hf/steps-schema.ts).
ACTION = {
    "type": ClassLabel(names=ACTION_TYPES),
    "x": Value("int32"),
    "y": Value("int32"),
    "x_norm": Value("float32"),
    "y_norm": Value("float32"),
    "target": {"role": Value("string"), "name": Value("string"), "bbox": List(Value("int32"))},
    "text": Value("string"),
    "key": Value("string"),
    "modifiers": List(Value("string")),
    "url": Value("string"),
    "to_x": Value("int32"),
    "to_y": Value("int32"),
    "dx": Value("int32"),
    "dy": Value("int32"),
    "args": Value("string"),
}

FEATURES = Features({
    "session_id": Value("string"),
    "step": Value("int32"),
    "t_ms": Value("int64"),
    "image": Image(),
    "viewport": {"w": Value("int32"), "h": Value("int32")},
    "action": ACTION,
    "prior_action": ACTION,
    "workflow": Value("string"),
    "outcome": ClassLabel(names=OUTCOMES),
    "actor_kind": Value("string"),
    "tags": List(Value("string")),
    "path": Value("string"),
    "started_at": Value("timestamp[ms, tz=UTC]"),
    "dom": Value("string"),
    "accessibility_tree": Value("string"),
    "extra": Value("string"),
})


def main(root, out, cache_dir):
    ds = Dataset.from_generator(export_rows, gen_kwargs={"root": root}, features=FEATURES, cache_dir=cache_dir)
    ds.to_parquet(out)
    fd = os.open(out, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    print(len(ds))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
