"""The mmbind binary, run as a child process: it does every piece of model work."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from .errors import ScaleError


def _die_with_parent():
    """A child outlives a killed Ray actor otherwise, and finishes a shard already redone."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Mmbind:
    """One model, run through the ``mmbind`` binary (``binary``, else $MMBIND, else PATH).

    ``adapter`` is mmbind's ``--adapter`` (a wgpu adapter number or name); ``backend`` its
    ``--backend``; ``threads`` its ``--threads``.
    """

    def __init__(self, model, binary=None, adapter=None, backend=None, threads=None):
        found = binary or os.environ.get("MMBIND") or shutil.which("mmbind")
        if not found or not Path(found).is_file():
            raise ScaleError(
                f"mmbind binary not found ({found or 'not on PATH'}); build it with "
                "`cargo build --release` and set MMBIND=target/release/mmbind"
            )
        self.binary = str(Path(found).resolve())
        self.adapter = adapter
        self.backend = backend
        self.threads = threads
        self.model = self.model_hash = self.dim = None
        if model is None:  # export needs no model
            return
        self.model = Path(model).resolve()
        manifest = self.model / "model.json"
        try:
            meta = json.loads(manifest.read_text())
            self.model_hash = meta["content_hash"]
            self.dim = int(meta["config"]["out_dim"])
        except (OSError, ValueError, KeyError) as e:
            raise ScaleError(f"{self.model}: not an mmbind model directory ({e})") from None

    def _global(self):
        args = []
        if self.adapter is not None:
            args += ["--adapter", str(self.adapter)]
        if self.backend is not None:
            args += ["--backend", self.backend]
        if self.threads is not None:
            args += ["--threads", str(self.threads)]
        return args

    def run(self, args, ok=(0,), tied=False):
        """Runs ``mmbind ARGS``; a ScaleError with mmbind's own error line unless the exit
        code is in ``ok`` (1: some inputs skipped, each named on stderr). ``tied``: the child
        dies with this process (a worker's; it forks, which a process using LanceDB avoids)."""
        env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
        p = subprocess.run(
            [self.binary, *self._global(), *args],
            capture_output=True,
            text=True,
            env=env,
            preexec_fn=_die_with_parent if tied else None,
        )
        if p.returncode not in ok:
            lines = [l for l in p.stderr.splitlines() if l.strip()]
            last = lines[-1] if lines else f"mmbind exited with {p.returncode}"
            raise ScaleError(last.removeprefix("error: "))
        return p

    def embed_part(self, files_from, out, shard=None, batch_size=None):
        """Embeds the inputs listed in ``files_from`` (its ``shard`` = (i, n) only) into the
        Parquet file ``out`` (written atomically by mmbind). Returns the messages of the
        inputs that were skipped."""
        args = ["embed", "--quiet", "--model", str(self.model), "--files-from", str(files_from)]
        if shard is not None:
            args += ["--shard", f"{shard[0]}/{shard[1]}"]
        if batch_size is not None:
            args += ["--batch-size", str(batch_size)]
        p = self.run([*args, "--out", str(out)], ok=(0, 1), tied=True)
        return [l for l in p.stderr.splitlines() if l.startswith("skipped ")]

    def query_vector(self, terms):
        """The vector ``mmbind add`` searches for with these terms: ``[(flag, value)]`` with
        mmbind's term flags (``("text", "a dog")``, ``("minus-vision", "x.jpg")``; a value may
        carry a ``W:`` weight). Returns (unit float32 vector, model hash)."""
        if not terms:
            raise ScaleError("nothing to search for: give at least one input")
        args = ["add", "--vector", "--quiet", "--model", str(self.model)]
        for flag, value in terms:
            args += [f"--{flag}", str(value)]
        p = self.run(args)
        answer = json.loads(p.stdout)
        return np.asarray(answer["vector"], dtype=np.float32), answer["model_hash"]

    def export(self, index, out):
        """Writes the local index ``index`` to the Parquet file ``out``."""
        self.run(["export", "--quiet", "--index", str(index), "--out", str(out)])
