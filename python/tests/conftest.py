"""Shared fixtures: the mmbind binary, the tiny fixture model, a generated world, Ray.

Everything is real: mmbind is the release binary ($MMBIND), Ray a real cluster ($RAY_ADDRESS,
as scripts/scale-tests.sh starts it with two logical GPUs, else a local one started here),
LanceDB a real database in a temporary directory.
"""

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


def mmbind_path():
    path = os.environ.get("MMBIND", str(REPO / "target" / "release" / "mmbind"))
    if not Path(path).is_file():
        pytest.fail(f"no mmbind binary at {path}: build it (cargo build --release) or set MMBIND")
    return path


def run(*args, ok=(0,)):
    """``mmbind ARGS``: (stdout, stderr, exit code), failing the test on another code."""
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    p = subprocess.run([mmbind_path(), *map(str, args)], capture_output=True, text=True, env=env)
    assert p.returncode in ok, f"mmbind {' '.join(map(str, args))} -> {p.returncode}\n{p.stderr}"
    return p.stdout, p.stderr, p.returncode


@pytest.fixture(scope="session")
def binary():
    return mmbind_path()


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    """The official tiny ImageBind checkpoint, imported (out_dim 32)."""
    d = tmp_path_factory.mktemp("model")
    pth = d / "tiny.pth"
    pth.write_bytes(gzip.decompress((FIXTURES / "tiny_imagebind.pth.gz").read_bytes()))
    run("import", "imagebind", "--checkpoint", pth, "--config", FIXTURES / "tiny_kwargs.json", "--out", d / "tiny")
    return d / "tiny"


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """A small generated world (all six modalities)."""
    d = tmp_path_factory.mktemp("world") / "w"
    run("world", "--out", d, "--scenes", "10", "--seed", "4", "--quiet")
    return d


@pytest.fixture(scope="session")
def file_list(world, tmp_path_factory):
    """A list of the world's vision, audio, depth and IMU files: depth maps are PNGs, so their
    lines name the modality (MODALITY<TAB>PATH); the rest go by extension."""
    lines = []
    for sub in ["vision", "audio", "depth", "imu"]:
        for f in sorted((world / sub).iterdir()):
            lines.append(f"depth\t{f}" if sub == "depth" else str(f))
    p = tmp_path_factory.mktemp("list") / "inputs.txt"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.fixture(scope="session")
def ray_cluster():
    """The Ray cluster at $RAY_ADDRESS, else a local one with two logical GPUs."""
    import ray

    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], logging_level="ERROR", log_to_driver=False)
    else:
        ray.init(num_gpus=2, num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


def rows(table):
    """A table's rows as dicts, timestamps as integer nanoseconds (pyarrow turns a
    nanosecond timestamp into a Python object only with pandas installed)."""
    import pyarrow as pa

    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(i, field.name, table[field.name].cast(pa.int64()))
    return table.to_pylist()


def exact_query(index, text, top_k, *extra):
    out, _, _ = run("--backend", "ndarray", "query", "--index", index, "--text", text, "--exact",
                    "--format", "json", "--top-k", top_k, *extra)
    return json.loads(out)["results"]
