"""``mmbind-scale``: the console command (embed on Ray, import, migrate, index, query)."""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from .errors import ScaleError

MODALITIES = ["vision", "text", "audio", "depth", "thermal", "imu"]

EPILOG = """examples:
  ray start --head --num-gpus 8      # on the cluster (or let mmbind-scale start a local one)
  mmbind-scale embed --model M --out parts/ --db lance/ --table photos /data/photos
  mmbind-scale index --db lance/ --table photos
  mmbind-scale query --model M --db lance/ --table photos --text "a dog on a beach"
  mmbind-scale query --model M --db lance/ --table photos --vision dog.jpg --minus-text 0.5:snow
  mmbind-scale migrate --index photos.idx --db lance/ --table photos

Exit codes: 0 done; 1 done, some inputs skipped (named on stderr); 2 error (one line, nothing written)."""


def _parser():
    p = argparse.ArgumentParser(
        prog="mmbind-scale",
        description="mmbind past one machine: embedding on Ray, vectors in LanceDB, Parquet in between.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--mmbind", help="the mmbind binary (default: $MMBIND, else PATH)")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("embed", help="embed files on a Ray cluster into Parquet parts (and a LanceDB table)")
    e.add_argument("inputs", nargs="*", help="files and directories (walked recursively)")
    e.add_argument("--files-from", help="a list of inputs, one PATH or MODALITY<TAB>PATH per line")
    e.add_argument("--model", required=True, help="the mmbind model directory (on every node)")
    e.add_argument("--out", required=True, help="directory of the Parquet parts (shared by the nodes); a rerun skips finished parts")
    e.add_argument("--db", help="LanceDB database (directory or s3://...) to upsert the parts into")
    e.add_argument("--table", help="table name in --db (created for the model if missing)")
    e.add_argument("--actors", type=int, default=2, help="Ray actors, one GPU each when the cluster has GPUs (default 2)")
    e.add_argument("--shards", type=int, help="shards of the list (default 4 per actor); a shard is a part")
    e.add_argument("--adapters", help="mmbind --adapter for each Ray GPU id, comma-separated (default: the id itself)")
    e.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS, else a new local cluster)")
    e.add_argument("--backend", choices=["auto", "wgpu", "ndarray"], help="mmbind --backend for the actors")

    i = sub.add_parser("import", help="upsert Parquet files of mmbind's schema into a LanceDB table")
    i.add_argument("parquet", nargs="+")
    _table_args(i)

    m = sub.add_parser("migrate", help="a local mmbind index into a LanceDB table, in one command")
    m.add_argument("--index", required=True, help="the mmbind index directory")
    _table_args(m)

    x = sub.add_parser("index", help="build LanceDB's approximate index on a table")
    _table_args(x)
    x.add_argument("--kind", default="ivf_pq", choices=["ivf_pq", "ivf_hnsw_sq", "ivf_hnsw_pq"])
    x.add_argument("--partitions", type=int, help="IVF partitions (default: sqrt(rows), at most rows/256)")
    x.add_argument("--sub-vectors", type=int, help="PQ sub-vectors (default: dim/8)")

    q = sub.add_parser("query", help="search a table with mmbind add's arithmetic (a query is one term)")
    q.add_argument("--model", required=True, help="the model the table was made with (checked)")
    _table_args(q)
    for mod in MODALITIES:
        value = "[W:]TEXT" if mod == "text" else "[W:]FILE"
        q.add_argument(f"--{mod}", action="append", default=[], metavar=value, help=f"{mod} input to add")
        q.add_argument(f"--minus-{mod}", action="append", default=[], metavar=value, help=f"{mod} input to subtract")
    q.add_argument("--top-k", type=int, default=10)
    q.add_argument("--modality", action="append", default=[], help="keep only results of this modality (repeatable, or comma-separated)")
    q.add_argument("--exact", action="store_true", help="scan every vector (no approximate index)")
    q.add_argument("--nprobes", type=int, help="IVF partitions to search (default 20; higher: better recall, slower)")
    q.add_argument("--refine", type=int, help="re-score this many times top-k candidates on their full vectors (default 10)")
    q.add_argument("--format", choices=["table", "json"], default="table")
    return p


def _table_args(p):
    p.add_argument("--db", required=True, help="LanceDB database: a directory or object storage URI")
    p.add_argument("--table", required=True, help="the table's name")


def main(argv=None):
    os.environ.setdefault("LANCE_LOG", "error")  # LanceDB's k-means notes, one per partition
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ScaleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished parts are kept; run the same command again to go on", file=sys.stderr)
        return 130


def _embed(args):
    from . import ray_embed
    from .table import connect, create_or_open
    from .tool import Mmbind

    if bool(args.db) != bool(args.table):
        raise ScaleError("--db and --table go together")
    if args.actors < 1 or (args.shards is not None and args.shards < 1):
        raise ScaleError("--actors and --shards must be at least 1")
    tool = Mmbind(args.model, args.mmbind, backend=args.backend)
    lines = ray_embed.list_inputs(args.inputs, args.files_from)
    # Ray first: a local cluster forks its processes, which LanceDB's runtime dislikes.
    ray_embed.connect(args.address)
    table = None
    if args.db:
        table = create_or_open(connect(args.db), args.table, tool.dim, tool.model_hash)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ScaleError(f"{out}: {e.strerror}") from None
    listed = out / "inputs.txt"
    if listed.is_file() and listed.read_text().splitlines() != lines:
        # Shards are shares of one list: parts of another list would leave files out.
        raise ScaleError(f"{out} holds the parts of another input list; use another --out directory")
    ray_embed.write_list(lines, listed)
    n = len(lines)
    adapters = [a.strip() for a in args.adapters.split(",")] if args.adapters else None
    job = ray_embed.EmbedJob(tool, out / "inputs.txt", out, actors=args.actors, shards=args.shards,
                             table=table, adapters=adapters)

    def progress(ev):
        if ev["event"] == "done":
            print(f"shard {ev['shard'] + 1}/{job.shards} done (actor {ev['actor']}, adapter {ev['adapter']})", file=sys.stderr)
        elif ev["event"] == "actor_died":
            print(f"actor {ev['actor']} died; shard {ev['shard']} goes to its replacement", file=sys.stderr)

    s = job.run(progress)
    for line in s["skipped"]:
        print(line, file=sys.stderr)
    print(json.dumps({"inputs": n, "shards": s["shards"], "parts_reused": s["reused_parts"],
                      "rows_ingested": s["rows_ingested"], "skipped": len(s["skipped"]),
                      "restarts": s["restarts"], "adapters": [a["adapter"] for a in s["actors"]]}))
    return 1 if s["skipped"] else 0


def _import(args):
    from .table import connect, create_or_open, ingest, read_part

    parts = [read_part(p) for p in args.parquet]  # every file checked before anything is written
    dims = {d for _, d, _ in parts}
    models = {m for _, _, m in parts}
    if len(dims) > 1 or len(models) > 1:
        raise ScaleError("the files hold embeddings of different models or sizes; nothing was written")
    db = connect(args.db)
    tbl = create_or_open(db, args.table, dims.pop(), models.pop())
    rows = sum(ingest(tbl, t, m) for t, _, m in parts)
    print(json.dumps({"table": args.table, "rows_upserted": rows, "rows": tbl.count_rows()}))
    return 0


def _migrate(args):
    from .tool import Mmbind

    with tempfile.TemporaryDirectory(prefix="mmbind-migrate-") as tmp:
        out = Path(tmp, "index.parquet")
        Mmbind(None, args.mmbind).export(args.index, out)
        args.parquet = [out]
        return _import(args)


def _index(args):
    from .table import build_index, connect, open_table

    tbl = open_table(connect(args.db), args.table)
    build_index(tbl, args.kind, args.partitions, args.sub_vectors)
    print(json.dumps({"table": args.table, "index": args.kind, "rows": tbl.count_rows()}))
    return 0


def _query(args):
    from .table import connect, open_table, search
    from .tool import Mmbind

    terms = []
    for mod in MODALITIES:
        terms += [(mod, v) for v in getattr(args, mod)]
        terms += [(f"minus-{mod}", v) for v in getattr(args, f"minus_{mod}")]
    modalities = [m.strip() for ms in args.modality for m in ms.split(",") if m.strip()]
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown:
        raise ScaleError(f"--modality {unknown[0]}: use one of {', '.join(MODALITIES)}")
    if args.top_k < 1:
        raise ScaleError("--top-k must be at least 1")
    tool = Mmbind(args.model, args.mmbind)
    tbl = open_table(connect(args.db), args.table, tool.model_hash)
    vector, _ = tool.query_vector(terms)
    hits = search(tbl, vector, args.top_k, modalities, args.exact, args.nprobes, args.refine)
    if args.format == "json":
        print(json.dumps({"query": [{"flag": f, "input": v} for f, v in terms],
                          "method": "exact" if args.exact else "approx", "results": hits}))
    else:
        for h in hits:
            print(f"{h['rank']:>3}  {h['score']:.4f}  {h['modality']:<8} {h['path']}")
    return 0


COMMANDS = {"embed": _embed, "import": _import, "migrate": _migrate, "index": _index, "query": _query}

if __name__ == "__main__":
    sys.exit(main())
