"""mmbind's Parquet schema (crates/mmbind-cli/src/parquet.rs, docs/scale.md), in pyarrow."""

import pyarrow as pa

from .errors import ScaleError

SCHEMA_NAME = "mmbind-embeddings/1"


def schema(dim: int, model_hash: str = None) -> pa.Schema:
    """The schema of embeddings of ``dim`` values; with ``model_hash``, mmbind's metadata."""
    fields = [
        pa.field("path", pa.string()),
        pa.field("text", pa.string()),
        pa.field("modality", pa.string(), nullable=False),
        pa.field("size", pa.uint64(), nullable=False),
        pa.field("mtime", pa.timestamp("ns", tz="UTC")),
        pa.field("content_hash", pa.binary(32), nullable=False),
        pa.field("model_hash", pa.string(), nullable=False),
        pa.field("embedding", pa.list_(pa.float32(), dim), nullable=False),
    ]
    metadata = None
    if model_hash is not None:
        metadata = {"mmbind.schema": SCHEMA_NAME, "mmbind.model_hash": model_hash}
    return pa.schema(fields, metadata=metadata)


def check_schema(found: pa.Schema, where: str) -> int:
    """The embedding length if ``found`` has every column of the schema with its type (as
    mmbind checks it: names and types; ``text`` may be missing; extra columns allowed)."""
    if "embedding" not in found.names:
        raise ScaleError(f"{where}: no 'embedding' column (not mmbind's schema: see mmbind's README, 'Parquet embeddings')")
    t = found.field("embedding").type
    if not (pa.types.is_fixed_size_list(t) and t.value_type == pa.float32()):
        raise ScaleError(
            f"{where}: column 'embedding' is {t} where the schema has fixed_size_list<float32>[dim]"
        )
    dim = t.list_size
    for want in schema(dim):
        if want.name not in found.names:
            if want.name == "text":
                continue
            raise ScaleError(f"{where}: no '{want.name}' column (see mmbind's README, 'Parquet embeddings')")
        got = found.field(want.name).type
        same = got == want.type
        if pa.types.is_fixed_size_list(want.type):
            same = pa.types.is_fixed_size_list(got) and got.list_size == dim and got.value_type == pa.float32()
        if pa.types.is_timestamp(want.type):
            same = pa.types.is_timestamp(got) and got.unit == "ns"
        if not same:
            raise ScaleError(f"{where}: column '{want.name}' is {got} where the schema has {want.type}")
    return dim
