"""The lake's Parquet files on a local folder."""

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.framework.storage.lake import Lake


def test_wide_rows_end_their_row_groups_by_size_not_by_count(tmp_path):
    """Rows of ~1 KB: a group of 64k rows would hold ~64 MB in memory; 8 MB ends it at 8000 rows."""
    text = "ç" * 500
    batches = [
        pa.record_batch(
            {"id": pa.array(range(i * 1000, (i + 1) * 1000), pa.int64()), "texto": [text] * 1000}
        )
        for i in range(40)
    ]
    staged = Lake(str(tmp_path)).write(
        batches, batches[0].schema, run_id="r1", dataset_id="d", table_id="t", group_bytes=8_000_000
    )

    parquet = pq.ParquetFile(staged.files[0])
    groups = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    assert groups == [8000] * 5
    assert parquet.read().equals(pa.Table.from_batches(batches))
