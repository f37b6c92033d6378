"""Embedding fanned out on Ray: an actor per GPU, each running ``mmbind embed --shard``.

The input list is cut into shards by mmbind itself (``--shard I/N``: a stable hash split), so
N shards cover it exactly once. Each shard becomes one Parquet part, written atomically by
mmbind: a part that exists is complete, which makes the job restartable (parts already
there are skipped) and a killed actor harmless (its shard goes back in the queue and a new
actor takes its place; the table upserts by path, so nothing is written twice).
"""

import os
import socket
import uuid
from collections import deque
from pathlib import Path

import pyarrow.parquet as pq

from .errors import ScaleError
from .table import MODEL_KEY, ingest, read_part
from .tool import Mmbind

PART = "part-{shard:05d}-of-{shards:05d}.parquet"


def connect(address=None):
    """Joins the Ray cluster at ``address`` (None: $RAY_ADDRESS, else a local one)."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address and address not in ("auto", "local") and "://" not in address:
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=5).close()
        except (OSError, ValueError) as e:
            raise ScaleError(f"Ray cluster at {address} is unreachable ({e})") from None
    # Ray's C++ client writes a warning a second while it retries an address that answers
    # but is no Ray cluster; the one line below says what went wrong.
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ScaleError(f"cannot join the Ray cluster at {address or 'a new local one'}: {e}") from None
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def list_inputs(sources, files_from=None):
    """The inputs, one line each: every file of the directories and files in ``sources``
    (absolute; hidden names skipped) and the lines of the list ``files_from`` (PATH or
    MODALITY<TAB>PATH)."""
    lines = []
    for src in sources:
        src = Path(src)
        if src.is_dir():
            for root, dirs, files in os.walk(src):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                lines += [str(Path(root, f).resolve()) for f in sorted(files) if not f.startswith(".")]
        elif src.is_file():
            lines.append(str(src.resolve()))
        else:
            raise ScaleError(f"{src}: no such file or directory")
    if files_from is not None:
        try:
            lines += [l for l in Path(files_from).read_text().splitlines() if l.strip()]
        except OSError as e:
            raise ScaleError(f"{files_from}: {e.strerror}") from None
    if not lines:
        raise ScaleError("nothing to embed: the inputs list no files")
    return lines


def write_list(lines, list_path):
    """Writes ``lines`` to ``list_path`` (atomically) for every worker to read."""
    tmp = Path(f"{list_path}.tmp-{os.getpid()}")
    tmp.write_text("".join(l + "\n" for l in lines))
    os.replace(tmp, list_path)


def _worker_class():
    import ray

    @ray.remote
    class EmbedWorker:
        """One actor: its GPU's adapter, one mmbind process per shard."""

        def __init__(self, model, binary, adapters, backend, threads):
            ids = ray.get_gpu_ids()
            self.adapter = None
            if ids and backend != "ndarray":
                gpu = int(ids[0])
                self.adapter = adapters[gpu] if adapters else gpu
            self.tool = Mmbind(model, binary, adapter=self.adapter, backend=backend, threads=threads)

        def info(self):
            return {"pid": os.getpid(), "adapter": self.adapter, "gpu_ids": [str(g) for g in ray.get_gpu_ids()]}

        def embed(self, list_path, shard, shards, out_dir):
            out = Path(out_dir, PART.format(shard=shard, shards=shards))
            skipped = self.tool.embed_part(list_path, out, (shard, shards))
            return {"shard": shard, "part": str(out), "adapter": self.adapter, "pid": os.getpid(), "skipped": skipped}

    return EmbedWorker


class EmbedJob:
    """Embeds ``list_path``'s inputs into ``shards`` Parquet parts under ``out_dir`` on
    ``actors`` Ray actors (one GPU each when the cluster has GPUs), upserting each part into
    LanceDB table ``table`` when given (already checked for this model)."""

    def __init__(self, tool, list_path, out_dir, actors=2, shards=None, table=None,
                 adapters=None, gpus_per_actor=None, max_restarts=8):
        self.tool, self.list_path, self.out_dir = tool, Path(list_path), Path(out_dir)
        self.n_actors, self.table, self.adapters = actors, table, adapters
        self.shards = shards or 4 * actors
        self.gpus_per_actor = gpus_per_actor
        self.max_restarts = max_restarts
        self.actors = []
        self.run_id = uuid.uuid4().hex[:8]
        self.events = []
        self.infos = []

    def _new_actor(self, i):
        import ray

        gpus = self.gpus_per_actor
        if gpus is None:
            gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        worker = _worker_class().options(
            name=f"mmbind-embed-{self.run_id}-{i}-{len(self.events)}", num_gpus=gpus, num_cpus=1, max_restarts=0
        )
        return worker.remote(str(self.tool.model), self.tool.binary, self.adapters,
                             self.tool.backend, self.tool.threads)

    def done_parts(self):
        """The shards whose parts exist and are of this model (a restarted job skips them)."""
        done = set()
        for shard in range(self.shards):
            part = self.out_dir / PART.format(shard=shard, shards=self.shards)
            if part.is_file():
                meta = pq.read_schema(part).metadata or {}
                if meta.get(MODEL_KEY, b"").decode() != self.tool.model_hash:
                    raise ScaleError(f"{part}: a part of another model; use another --out directory")
                done.add(shard)
        return done

    def run(self, progress=None):
        """Runs to the end; returns a summary. ``progress(event)`` sees every event."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        self.out_dir.mkdir(parents=True, exist_ok=True)
        skipped_parts = self.done_parts()
        queue = deque(s for s in range(self.shards) if s not in skipped_parts)
        rows = 0
        if self.table is not None:
            # A part written before a crash may not have reached the table; upserting it
            # again costs a read and changes nothing if it had.
            for s in sorted(skipped_parts):
                t, _, model = read_part(self.out_dir / PART.format(shard=s, shards=self.shards))
                rows += ingest(self.table, t, model)
        self.actors = [self._new_actor(i) for i in range(min(self.n_actors, len(queue)))]
        try:
            infos = ray.get([a.info.remote() for a in self.actors])
        except (RayTaskError, RayActorError) as e:
            raise ScaleError(f"the actors could not start: {_reason(e)}") from None
        self.infos = list(infos)
        summary = {"shards": self.shards, "reused_parts": len(skipped_parts), "parts": [],
                   "rows_ingested": rows, "skipped": [], "restarts": 0, "actors": infos}
        inflight, idle = {}, list(range(len(self.actors)))

        def emit(event):
            self.events.append(event)
            if progress:
                progress(event)

        while queue or inflight:
            while queue and idle:
                i, shard = idle.pop(), queue.popleft()
                inflight[self.actors[i].embed.remote(str(self.list_path), shard, self.shards, str(self.out_dir))] = (i, shard)
                emit({"event": "started", "actor": i, "shard": shard})
            ready, _ = ray.wait(list(inflight), num_returns=1)
            i, shard = inflight.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except RayActorError:
                summary["restarts"] += 1
                if summary["restarts"] > self.max_restarts:
                    raise ScaleError(f"actors died {summary['restarts']} times; giving up") from None
                queue.append(shard)
                self.actors[i] = self._new_actor(i)
                info = ray.get(self.actors[i].info.remote())
                summary["actors"].append(info)
                self.infos[i] = info
                idle.append(i)
                emit({"event": "actor_died", "actor": i, "shard": shard, "replacement": info})
                continue
            except RayTaskError as e:
                raise ScaleError(f"shard {shard}: {_reason(e)}") from None
            idle.append(i)
            summary["parts"].append(result)
            summary["skipped"] += result["skipped"]
            if self.table is not None:
                t, _, model = read_part(result["part"])
                summary["rows_ingested"] += ingest(self.table, t, model)
            emit({"event": "done", "actor": i, **result})
        for a in self.actors:
            ray.kill(a)
        return summary

    def parts(self):
        return [self.out_dir / PART.format(shard=s, shards=self.shards) for s in range(self.shards)]


def _reason(e):
    """The last line of a Ray error: the worker's own exception message."""
    text = str(e).strip().splitlines()
    for line in reversed(text):
        if "ScaleError:" in line:
            return line.split("ScaleError:", 1)[1].strip()
    return text[-1] if text else type(e).__name__
