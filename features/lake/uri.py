"""A published lake read from a URI: s3://, gs://, abfs:// or file://, through pyarrow's filesystems.

The layout is the local lake's (features/lake.py): `_manifest.json` lists each ingest's Parquet
files, and readers see only what it lists. `push_lake` copies a local lake there with the parts
first and the manifest last (one PUT, which object stores make visible whole), so a reader at the
URI sees the old published state or the new one, never half an ingest. Ingests write to a local
lake; the URI is what a cluster reads.

Credentials and endpoints come from the standard settings of each store (AWS_ACCESS_KEY_ID,
AWS_ENDPOINT_URL, GOOGLE_APPLICATION_CREDENTIALS, ...) or from pyarrow's URI options
(`s3://bucket/lake?endpoint_override=host:9000&scheme=http`), which every file URI keeps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from features.lake.store import MANIFEST, Lake, empty_manifest, parse_manifest, snapshot_of
from features.schemas import TABLES

# Hadoop's names for stores that pyarrow names otherwise: a URI written for Spark works here too.
SCHEMES = {"s3a": "s3", "s3n": "s3"}
# Rows per Arrow batch a reader hands on: bounds a task's memory, whatever a file's size.
BATCH_ROWS = 1 << 16


class UriLake:
    """The published files of a lake at a URI (read-only)."""

    def __init__(self, uri: str) -> None:
        base, _, query = uri.partition("?")
        self.base = base.rstrip("/")
        self.query = query
        self.root = redacted(uri)  # what messages name: never a secret given in the URI

    def uri(self, rel: str) -> str:
        """The URI of a file under the lake (with the lake's URI options)."""
        return f"{self.base}/{rel}" + (f"?{self.query}" if self.query else "")

    def manifest(self) -> dict[str, Any]:
        """The published manifest (an empty one where none is published)."""
        where = self.uri(MANIFEST)
        filesystem, path = filesystem_of(where)
        if filesystem.get_file_info(path).type == pafs.FileType.NotFound:
            return empty_manifest()
        with filesystem.open_input_stream(path) as stream:
            return parse_manifest(stream.read().decode(), redacted(where))

    def files(self, table: str) -> list[str]:
        """URIs of one table's published Parquet files, oldest ingest first."""
        return [
            self.uri(rel)
            for ingest in self.manifest()["ingests"]
            for rel in ingest["files"].get(table, [])
        ]

    def snapshot_id(self) -> str:
        """A hash naming the published state, as Lake.snapshot_id."""
        return snapshot_of(self.manifest())

    def read(self, table: str) -> pa.Table:
        """A whole table in memory (as Lake.read: for small tables such as members)."""
        schema = TABLES[table].schema
        batches = [b for uri in self.files(table) for b in read_conformed(uri, schema)]
        return pa.Table.from_batches(batches, schema)


@dataclass(frozen=True)
class PushReport:
    """What push_lake copied."""

    uri: str
    files: int  # Parquet files copied (those already there are not copied again)
    skipped: int
    snapshot: str  # the snapshot the URI now shows: the local lake's


def push_lake(lake: Lake, uri: str) -> PushReport:
    """Copy a local lake's published files to a URI, the manifest last, and nothing unpublished.

    A file already at the URI with the same size is not copied again: ingest parts are never
    rewritten in place (each ingest writes its own folder), so an interrupted push is resumed by
    running it again.
    """
    target = UriLake(uri)
    manifest = (
        lake.manifest()
    )  # what is published now; parts of a later ingest wait for the next push
    copied = skipped = 0
    for ingest in manifest["ingests"]:
        for rel in (rel for files in ingest["files"].values() for rel in files):
            filesystem, path = filesystem_of(target.uri(rel))
            local = lake.root / rel
            info = filesystem.get_file_info(path)
            if info.type == pafs.FileType.File and info.size == local.stat().st_size:
                skipped += 1
                continue
            _make_parent(filesystem, path)
            # Streamed (multipart on S3): a part may be far larger than memory allows twice.
            pafs.copy_files(str(local), path, destination_filesystem=filesystem)
            copied += 1
    _publish_manifest(target, json.dumps(manifest, indent=1, sort_keys=True).encode())
    return PushReport(
        uri=target.root, files=copied, skipped=skipped, snapshot=snapshot_of(manifest)
    )


def _publish_manifest(target: UriLake, text: bytes) -> None:
    """Put the manifest whole: one PUT on an object store, written aside and renamed on disk."""
    filesystem, path = filesystem_of(target.uri(MANIFEST))
    local = isinstance(filesystem, pafs.LocalFileSystem)
    _make_parent(filesystem, path)
    aside = f"{path}.push.tmp" if local else path
    with filesystem.open_output_stream(aside) as stream:
        stream.write(text)
    if local:
        filesystem.move(aside, path)


def _make_parent(filesystem: pafs.FileSystem, path: str) -> None:
    """The folder a file goes in, where the store has folders (object stores have none)."""
    if isinstance(filesystem, pafs.LocalFileSystem):
        filesystem.create_dir(path.rpartition("/")[0], recursive=True)


def redacted(uri: str) -> str:
    """The URI without the secret of any user:secret@ in it."""
    return re.sub(r"^([a-z0-9+.-]+://[^:/@]*):[^@/]*@", r"\1:***@", uri, flags=re.IGNORECASE)


def is_uri(location: str) -> bool:
    """Whether a lake location is a URI (scheme://...) rather than a local folder."""
    scheme, sep, _ = location.partition("://")
    return bool(sep) and scheme.isidentifier()


def open_lake_at(location: str | Path | None) -> Lake | UriLake:
    """The lake at a local folder or at a URI (STEWARD_HOME/lake for None)."""
    if location is None:
        return Lake.default()
    text = str(location)
    return UriLake(text) if is_uri(text) else Lake(Path(text))


def filesystem_of(uri: str) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem and path for a URI, with Hadoop's scheme names accepted."""
    scheme, sep, rest = uri.partition("://")
    try:
        return pafs.FileSystem.from_uri(f"{SCHEMES.get(scheme, scheme)}{sep}{rest}")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"cannot read a lake at {redacted(uri)}: {exc}") from None


def read_conformed(uri: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """One Parquet file's rows in batches of `schema`: a column the file lacks comes as NULL."""
    filesystem, path = filesystem_of(uri)
    with filesystem.open_input_file(path) as handle:
        parquet = pq.ParquetFile(handle)
        present = set(parquet.schema_arrow.names)
        wanted = [name for name in schema.names if name in present]
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
            yield conform(batch, schema)


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A batch with exactly schema's columns: cast where present, NULL where absent."""
    columns = [
        batch.column(f.name).cast(f.type)
        if f.name in batch.schema.names
        else pa.nulls(batch.num_rows, f.type)
        for f in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)
