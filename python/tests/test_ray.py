"""The Ray job on a real cluster: two actors, each on its own wgpu adapter, one killed."""

import os
import signal
import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import exact_query, rows, run
from mmbind_scale.ray_embed import EmbedJob
from mmbind_scale.table import connect, create_or_open, search
from mmbind_scale.tool import Mmbind


@pytest.fixture(scope="module")
def job_run(binary, model, file_list, ray_cluster, tmp_path_factory):
    """The job, with actor 1's process killed (SIGKILL) a few seconds into its first shard."""
    tmp = tmp_path_factory.mktemp("ray")
    tool = Mmbind(model, binary)
    tbl = create_or_open(connect(tmp / "lance"), "w", tool.dim, tool.model_hash)
    job = EmbedJob(tool, file_list, tmp / "parts", actors=2, shards=6, table=tbl)
    kills = []

    def progress(ev):
        if ev["event"] == "started" and not kills and len(job.events) >= 2:
            pid = job.infos[1]["pid"]
            kills.append(pid)
            threading.Timer(3.0, os.kill, (pid, signal.SIGKILL)).start()

    summary = job.run(progress)
    return tmp, tool, tbl, job, summary, kills


def listed(file_list):
    return [l.split("\t")[-1] for l in file_list.read_text().splitlines() if l]


def test_each_actor_is_given_its_own_adapter(job_run):
    _, _, _, job, summary, _ = job_run
    first = summary["actors"][:2]
    assert sorted(a["adapter"] for a in first) == ["0", "1"] or sorted(a["adapter"] for a in first) == [0, 1]
    assert {tuple(a["gpu_ids"]) for a in first} == {("0",), ("1",)}
    done_on = {p["adapter"] for p in summary["parts"]}
    assert len(done_on) == 2, done_on


def test_a_killed_actors_shard_is_redone_and_every_file_is_there_once(job_run, file_list):
    tmp, _, tbl, job, summary, kills = job_run
    assert kills and summary["restarts"] >= 1
    assert any(e["event"] == "actor_died" for e in job.events)
    files = listed(file_list)
    parts = pa.concat_tables([pq.read_table(p) for p in job.parts()])
    assert sorted(parts["path"].to_pylist()) == sorted(files)
    table = tbl.to_arrow()
    assert table.num_rows == len(files) == len(set(table["path"].to_pylist()))
    assert summary["rows_ingested"] >= len(files)


def test_the_vectors_are_bit_identical_to_one_embed_run(job_run, model, file_list):
    tmp, _, tbl, job, _, _ = job_run
    ref = tmp / "ref.parquet"
    run("--adapter", "0", "embed", "--model", model, "--files-from", file_list, "--out", ref, "--quiet")
    want = {r["path"]: np.asarray(r["embedding"], np.float32) for r in rows(pq.read_table(ref))}
    got = rows(tbl.to_arrow())
    assert len(got) == len(want)
    for r in got:
        assert np.asarray(r["embedding"], np.float32).tobytes() == want[r["path"]].tobytes(), r["path"]


def test_the_tables_exact_top_k_is_mmbinds(job_run, model):
    tmp, tool, tbl, job, _, _ = job_run
    ix = tmp / "local.idx"
    run("index", "--model", model, "--index", ix, "--from-parquet", *job.parts())
    for text, extra in [("a bell", []), ("a kettle", ["--modality", "audio,depth"])]:
        want = exact_query(ix, text, 10, *extra)
        vector, _ = tool.query_vector([("text", text)])
        mods = extra[1].split(",") if extra else []
        got = search(tbl, vector, 10, mods, exact=True)
        assert [h["path"] for h in got] == [h["path"] for h in want]
        assert np.allclose([h["score"] for h in got], [h["score"] for h in want], atol=1e-5)


def test_a_rerun_reuses_every_part(job_run, binary, model, file_list):
    tmp, tool, tbl, job, _, _ = job_run
    again = EmbedJob(tool, file_list, tmp / "parts", actors=2, shards=6, table=tbl).run()
    assert again["reused_parts"] == 6 and again["parts"] == [] and again["actors"] == []
    assert tbl.count_rows() == len(listed(file_list))
