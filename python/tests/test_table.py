"""The console command on LanceDB: migration, the approximate index, and every refusal."""

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import exact_query, run
from mmbind_scale.table import connect, create_or_open, open_table


def scale(*args, ok=(0,)):
    """``mmbind-scale ARGS``: (stdout, stderr lines, exit code)."""
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    p = subprocess.run([sys.executable, "-m", "mmbind_scale.cli", *map(str, args)],
                       capture_output=True, text=True, env=env, timeout=300)
    lines = [l for l in p.stderr.splitlines() if l.strip() and "Warning" not in l and "WARN" not in l]
    assert p.returncode in ok, f"mmbind-scale {' '.join(map(str, args))} -> {p.returncode}\n{p.stderr}"
    return p.stdout, lines, p.returncode


def refused(*args):
    """A refusal: exit 2 and one line on stderr, "error: ..."."""
    _, lines, _ = scale(*args, ok=(2,))
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.fixture(scope="module")
def big(model, tmp_path_factory):
    """A local index of 300 real files (150 scenes' vision and audio), embedded on the CPU."""
    tmp = tmp_path_factory.mktemp("big")
    run("world", "--out", tmp / "w", "--scenes", "150", "--seed", "9", "--quiet")
    run("--backend", "ndarray", "index", "--model", model, "--index", tmp / "ix", tmp / "w" / "vision",
        tmp / "w" / "audio", "--quiet")
    return tmp


def test_a_migrated_index_answers_the_same_top_k(model, big):
    db = big / "lance"
    out, _, _ = scale("migrate", "--index", big / "ix", "--db", db, "--table", "m")
    assert json.loads(out)["rows"] == 300
    for text, mods in [("a bell", []), ("a drum", ["audio"]), ("a kettle", ["vision"])]:
        extra = ["--modality", ",".join(mods)] if mods else []
        want = exact_query(big / "ix", text, 10, *extra)
        out, _, _ = scale("query", "--model", model, "--db", db, "--table", "m", "--text", text,
                          "--exact", "--format", "json", "--top-k", 10, *extra)
        got = json.loads(out)["results"]
        assert [h["path"] for h in got] == [h["path"] for h in want], text
        assert np.allclose([h["score"] for h in got], [h["score"] for h in want], atol=1e-5)
    # Arithmetic: the same sum as `mmbind add`.
    terms = ["--text", "a bell", "--minus-text", "0.5:a drum"]
    want, _, _ = run("--backend", "ndarray", "add", "--index", big / "ix", *terms, "--exact", "--format", "json")
    out, _, _ = scale("query", "--model", model, "--db", db, "--table", "m", *terms, "--exact", "--format", "json")
    assert [h["path"] for h in json.loads(out)["results"]] == [h["path"] for h in json.loads(want)["results"]]
    # Migrating again changes nothing (upsert by path).
    out, _, _ = scale("migrate", "--index", big / "ix", "--db", db, "--table", "m")
    assert json.loads(out)["rows"] == 300


def test_the_approximate_index_finds_what_exact_search_finds(model, big):
    db = big / "lance"
    scale("migrate", "--index", big / "ix", "--db", db, "--table", "a")
    out, _, _ = scale("index", "--db", db, "--table", "a", "--partitions", 4)
    assert json.loads(out)["index"] == "ivf_pq"
    tbl = open_table(connect(db), "a")
    assert [i.index_type for i in tbl.list_indices()] == ["IvfPq"]
    hits = 0
    for text in ["a bell", "a drum", "a fan", "a kettle"]:
        q = ["query", "--model", model, "--db", db, "--table", "a", "--text", text, "--format", "json"]
        exact = json.loads(scale(*q, "--exact")[0])["results"]
        approx = json.loads(scale(*q, "--nprobes", 4, "--refine", 10)[0])["results"]
        hits += len({h["path"] for h in exact} & {h["path"] for h in approx})
    assert hits >= 0.9 * 40


def test_a_table_of_another_model_is_refused_and_nothing_is_written(model, big, file_list, tmp_path):
    db = tmp_path / "lance"
    create_or_open(connect(db), "other", 32, "f" * 64)
    line = refused("query", "--model", model, "--db", db, "--table", "other", "--text", "x")
    assert "holds embeddings of model ffffffffffffffff" in line
    line = refused("migrate", "--index", big / "ix", "--db", db, "--table", "other")
    assert "model ffffffffffffffff" in line
    line = refused("embed", "--model", model, "--out", tmp_path / "parts", "--db", db, "--table", "other",
                   "--files-from", file_list)
    assert "model ffffffffffffffff" in line
    assert not (tmp_path / "parts").exists()
    assert open_table(connect(db), "other").count_rows() == 0


def test_bad_files_paths_and_clusters_get_one_line(model, big, tmp_path):
    db = tmp_path / "lance"
    ex = tmp_path / "ex.parquet"
    run("export", "--index", big / "ix", "--out", ex)
    t = pq.read_table(ex)
    bad = t.set_column(t.schema.get_field_index("size"), "size", pa.array(t["size"].to_pylist(), pa.int32()))
    pq.write_table(bad, tmp_path / "bad.parquet")
    line = refused("import", ex, tmp_path / "bad.parquet", "--db", db, "--table", "t")
    assert "column 'size' is int32 where the schema has uint64" in line
    assert not db.exists() or "t" not in connect(db).table_names()
    assert "no such file" in refused("import", tmp_path / "missing.parquet", "--db", db, "--table", "t")
    assert "does not exist" in refused("import", ex, "--db", tmp_path / "no" / "such" / "dir", "--table", "t")
    assert "no table 'nope'" in refused("index", "--db", db, "--table", "nope")
    line = refused("migrate", "--index", tmp_path / "nothing.idx", "--db", db, "--table", "t")
    assert line == f"error: {tmp_path / 'nothing.idx'} is not an mmbind index: no such directory"
    line = refused("embed", "--model", model, "--out", tmp_path / "p", "--address", "127.0.0.1:9", big / "w" / "vision")
    assert "Ray cluster at 127.0.0.1:9 is unreachable" in line
    assert not list((tmp_path / "p").glob("*.parquet"))
    assert "not an mmbind model" in refused("embed", "--model", tmp_path, "--out", tmp_path / "p", big / "w")
