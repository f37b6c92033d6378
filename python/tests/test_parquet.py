"""mmbind's Parquet against pyarrow, both ways, and refusals of what does not fit."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import exact_query, rows as rows_of, run
from mmbind_scale.schema import SCHEMA_NAME, schema


def test_pyarrow_reads_mmbinds_parquet_with_the_documented_schema(model, file_list, tmp_path):
    out = tmp_path / "all.parquet"
    _, err, _ = run("--backend", "ndarray", "embed", "--model", model, "--files-from", file_list,
                    "--text", "a bell", "--out", out)
    t = pq.read_table(out)
    meta = json.loads((model / "model.json").read_text())
    assert t.schema.equals(schema(32), check_metadata=False), t.schema
    assert t.schema.metadata[b"mmbind.schema"] == SCHEMA_NAME.encode()
    assert t.schema.metadata[b"mmbind.model_hash"] == meta["content_hash"].encode()
    n_listed = len(file_list.read_text().splitlines())
    assert t.num_rows == n_listed + 1
    rows = rows_of(t)
    files = [r for r in rows if r["path"] is not None]
    text = [r for r in rows if r["path"] is None]
    assert [r["text"] for r in text] == ["a bell"] and text[0]["modality"] == "text"
    assert {r["modality"] for r in files} == {"vision", "audio", "depth", "imu"}
    # The file facts are the index's: size, mtime and BLAKE3 hash as `mmbind index` stores them.
    ix = tmp_path / "w.idx"
    world = Path(files[0]["path"]).parents[1]
    run("--backend", "ndarray", "index", "--model", model, "--index", ix, world / "vision", world / "audio", "--quiet")
    run("export", "--index", ix, "--out", tmp_path / "ix.parquet")
    stored = {r["path"]: r for r in rows_of(pq.read_table(tmp_path / "ix.parquet"))}
    assert len(stored) == 20
    for r in files:
        if r["path"] in stored:
            s = stored[r["path"]]
            assert (s["size"], s["mtime"], s["content_hash"]) == (r["size"], r["mtime"], r["content_hash"])
            assert s["size"] == Path(r["path"]).stat().st_size
    # Unit vectors, and the same numbers `embed` prints (normalised) for the same input.
    e = np.array([r["embedding"] for r in rows], dtype=np.float32)
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    printed, _, _ = run("--backend", "ndarray", "embed", "--model", model, "--text", "a bell")
    v = np.array(json.loads(printed)["embedding"], dtype=np.float32)
    at = [i for i, r in enumerate(rows) if r["path"] is None][0]
    assert np.allclose(v / np.linalg.norm(v), e[at], atol=1e-6)
    assert all(r["model_hash"] == meta["content_hash"] for r in rows)


@pytest.fixture(scope="module")
def embedded(model, file_list, tmp_path_factory):
    out = tmp_path_factory.mktemp("emb") / "all.parquet"
    run("--backend", "ndarray", "embed", "--model", model, "--files-from", file_list, "--out", out, "--quiet")
    return pq.read_table(out)


def test_a_file_pyarrow_writes_with_the_schema_is_indexed_and_answers_like_the_original(model, embedded, tmp_path):
    # pyarrow's own writer: Snappy compression, its own row groups, columns in another order.
    t = embedded.drop_columns(["text"]).select(
        ["embedding", "path", "modality", "size", "mtime", "content_hash", "model_hash"])
    mine = tmp_path / "pyarrow.parquet"
    pq.write_table(t, mine, compression="snappy", row_group_size=7)
    original = tmp_path / "original.parquet"
    pq.write_table(embedded, original)
    run("index", "--model", model, "--index", tmp_path / "a.idx", "--from-parquet", mine)
    run("index", "--model", model, "--index", tmp_path / "b.idx", "--from-parquet", original)
    a = exact_query(tmp_path / "a.idx", "a drum", 8)
    b = exact_query(tmp_path / "b.idx", "a drum", 8)
    assert a == b and len(a) == 8
    # And the index exports the same rows back.
    back = tmp_path / "back.parquet"
    run("export", "--index", tmp_path / "a.idx", "--out", back)
    got = pq.read_table(back).sort_by("path")
    want = embedded.sort_by("path")
    assert got["path"].to_pylist() == want["path"].to_pylist()
    assert got["content_hash"].equals(want["content_hash"])
    assert np.array_equal(np.stack(got["embedding"].to_numpy(zero_copy_only=False)),
                          np.stack(want["embedding"].to_numpy(zero_copy_only=False)))


def _refused(model, path, tmp_path, *needles):
    ix = tmp_path / "refused.idx"
    _, err, code = run("index", "--model", model, "--index", ix, "--from-parquet", path, ok=(2,))
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in needles:
        assert n in lines[0], lines[0]
    assert not ix.exists(), "nothing is written for a refused file"
    return lines[0]


def test_mmbind_refuses_a_schema_that_does_not_match_and_another_models_rows(model, embedded, tmp_path):
    as_list = embedded.set_column(
        embedded.schema.get_field_index("embedding"), "embedding",
        pa.array(embedded["embedding"].to_pylist(), pa.list_(pa.float32())))
    p = tmp_path / "list.parquet"
    pq.write_table(as_list, p)
    _refused(model, p, tmp_path, "column 'embedding' is List", "fixed_size_list<float32>[dim]")

    p = tmp_path / "nohash.parquet"
    pq.write_table(embedded.drop_columns(["content_hash"]), p)
    _refused(model, p, tmp_path, "no 'content_hash' column")

    other = embedded.set_column(embedded.schema.get_field_index("model_hash"), "model_hash",
                                pa.array(["0" * 64] * embedded.num_rows))
    p = tmp_path / "other.parquet"
    pq.write_table(other, p)
    _refused(model, p, tmp_path, "rows of model 0000", "nothing was indexed")

    p = tmp_path / "zstd.parquet"
    pq.write_table(embedded, p, compression="zstd")
    _refused(model, p, tmp_path, "compressed with zstd, which mmbind does not read")

    p = tmp_path / "junk.parquet"
    p.write_bytes(b"PAR1 not really")
    _refused(model, p, tmp_path, "not a Parquet file")
