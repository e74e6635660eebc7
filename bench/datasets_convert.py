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

from steps_rows import OUTCOMES, export_rows

FEATURES = Features({
    "session_id": Value("string"),
    "step": Value("int32"),
    "t_ms": Value("int64"),
    "image": Image(),
    "viewport": {"w": Value("int32"), "h": Value("int32")},
    "action": Value("string"),
    "prior_action": Value("string"),
    "workflow": Value("string"),
    "outcome": ClassLabel(names=OUTCOMES),
    "actor_kind": Value("string"),
    "tags": List(Value("string")),
    "path": Value("string"),
    "started_at": Value("string"),
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
