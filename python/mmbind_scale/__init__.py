"""mmbind past one machine.

mmbind (the Rust binary) does the model work: each Ray actor runs ``mmbind embed --shard``
on its own GPU and writes a Parquet part; the parts go into a LanceDB table whose model
identity (the model's content hash) is fixed when it is created; queries are embedded by
``mmbind add --vector`` and searched in LanceDB. See docs/scale.md.
"""

from .errors import ScaleError
from .schema import SCHEMA_NAME, schema, check_schema
from .tool import Mmbind

__all__ = ["ScaleError", "SCHEMA_NAME", "schema", "check_schema", "Mmbind"]
