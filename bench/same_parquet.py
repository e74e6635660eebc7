"""Check a reference tool wrote the same Parquet as convert: the same Arrow schema and, row for row
(ordered by session_id, step), the same values in every column; frames are compared by length and
path (both tools read the same frame files).

    python bench/same_parquet.py <convert output dir> <reference .parquet>"""
import glob
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def load(files):
    """Every row with the frame bytes replaced by their length (streamed: 3 GB of frames never in memory)."""
    batches = []
    for f in files:
        for b in pq.ParquetFile(f).iter_batches(batch_size=500):
            image = b.column("image")
            light = pa.StructArray.from_arrays(
                [pc.binary_length(image.field("bytes")), image.field("path")], names=["bytes_length", "path"], mask=image.is_null())
            columns = [light if name == "image" else b.column(name) for name in b.schema.names]
            batches.append(pa.RecordBatch.from_arrays(columns, names=b.schema.names))
    return pa.Table.from_batches(batches).sort_by([("session_id", "ascending"), ("step", "ascending")])


def main(ours_dir, reference):
    ours_files = sorted(glob.glob(os.path.join(ours_dir, "data", "*.parquet")))
    ours_schema = pq.read_schema(ours_files[0]).remove_metadata()
    ref_schema = pq.read_schema(reference).remove_metadata()
    if not ours_schema.equals(ref_schema):
        sys.exit(f"schemas differ:\nconvert:\n{ours_schema}\nreference:\n{ref_schema}")
    ours, ref = load(ours_files), load([reference])
    if ours.num_rows != ref.num_rows:
        sys.exit(f"convert wrote {ours.num_rows} rows, the reference {ref.num_rows}")
    for name in ours.column_names:
        if not ours.column(name).equals(ref.column(name)):
            a, b = ours.column(name).to_pylist(), ref.column(name).to_pylist()
            i = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
            sys.exit(f"column {name} differs at row {i}: convert {a[i]!r}, reference {b[i]!r}")
    print(ours.num_rows)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
