"""Reference (b) for `npm run bench`: the jsonl export to Parquet with pyarrow alone, streaming.

    python bench/pyarrow_convert.py <export dir> <out.parquet>

Batches of 100 rows go straight to a ParquetWriter as row groups of 100 (as nusomi-hf and the Hub
viewer do for image data); the image column is stored uncompressed without dictionary or statistics,
the rest snappy, page index on. The file is fsynced before the script ends, as nusomi-hf fsyncs
each shard before renaming it (the same durable end state for both)."""
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from steps_rows import export_rows

ROW_GROUP = 100

# The Arrow schema of nusomi-hf's `steps` Parquet (src/hf/steps-schema.ts); the bench checks it
# equals the schema of convert's shards.
ACTION = pa.struct([
    ("type", pa.int64()),
    ("x", pa.int32()),
    ("y", pa.int32()),
    ("x_norm", pa.float32()),
    ("y_norm", pa.float32()),
    ("target", pa.struct([("role", pa.string()), ("name", pa.string()), ("bbox", pa.list_(pa.int32()))])),
    ("text", pa.string()),
    ("key", pa.string()),
    ("modifiers", pa.list_(pa.string())),
    ("url", pa.string()),
    ("to_x", pa.int32()),
    ("to_y", pa.int32()),
    ("dx", pa.int32()),
    ("dy", pa.int32()),
    ("args", pa.string()),
])

SCHEMA = pa.schema([
    ("session_id", pa.string()),
    ("step", pa.int32()),
    ("t_ms", pa.int64()),
    ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
    ("viewport", pa.struct([("w", pa.int32()), ("h", pa.int32())])),
    ("action", ACTION),
    ("prior_action", ACTION),
    ("workflow", pa.string()),
    ("outcome", pa.int64()),
    ("actor_kind", pa.string()),
    ("tags", pa.list_(pa.string())),
    ("path", pa.string()),
    ("started_at", pa.timestamp("ms", tz="UTC")),
    ("dom", pa.string()),
    ("accessibility_tree", pa.string()),
    ("extra", pa.string()),
])


def leaf_paths(name, t):
    """Parquet column paths under a field (struct children, then list elements as pyarrow names them)."""
    if pa.types.is_struct(t):
        return [p for f in t for p in leaf_paths(f"{name}.{f.name}", f.type)]
    if pa.types.is_list(t):
        return leaf_paths(f"{name}.list.element", t.value_type)
    return [name]


NON_IMAGE = [p for f in SCHEMA if f.name != "image" for p in leaf_paths(f.name, f.type)]


def main(root, out):
    compression = {name: "snappy" for name in NON_IMAGE}
    compression.update({"image.bytes": "none", "image.path": "none"})
    writer = pq.ParquetWriter(
        out, SCHEMA, compression=compression, use_dictionary=NON_IMAGE,
        write_statistics=NON_IMAGE, write_page_index=True,
    )
    batch = []
    rows = 0
    for row in export_rows(root):
        batch.append(row)
        if len(batch) == ROW_GROUP:
            writer.write_table(pa.Table.from_pylist(batch, schema=SCHEMA), row_group_size=ROW_GROUP)
            rows += len(batch)
            batch = []
    if batch:
        writer.write_table(pa.Table.from_pylist(batch, schema=SCHEMA), row_group_size=ROW_GROUP)
        rows += len(batch)
    writer.close()
    fsync(out)
    print(rows)


def fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
