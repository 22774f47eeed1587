"""An S3 server for the tests of a lake at a URI, and a tiny Stack Exchange dump.

moto's S3 server runs in a child process: a real HTTP S3 endpoint that pyarrow's S3 client (the
one steward uses, on the driver and on Spark's Python workers) talks to as it would to AWS or
MinIO.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from bench.spark_cluster import free_port
from tests.support.stackexchange import dump_xml

# The test server's made-up key: checked never to be printed.
SECRET = "s3cret-key-7f"


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """A bucket on a local S3 server; yields the URI prefix of the bucket, credentials in it."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the S3 server did not start") from None
                time.sleep(0.1)
        endpoint = f"127.0.0.1:{port}"
        store = pafs.S3FileSystem(
            access_key="steward",
            secret_key=SECRET,
            endpoint_override=endpoint,
            scheme="http",
            region="us-east-1",
            allow_bucket_creation=True,
        )
        store.create_dir("lakes")
        # Credentials in the URI reach Spark's Python workers, which do not see this process's
        # environment; a deployment would give the executors AWS_* settings instead.
        yield f"s3://steward:{SECRET}@lakes/{{}}?endpoint_override={endpoint}&scheme=http&region=us-east-1"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    """A tiny dump with one bad row of each kind the adapter or validation handles."""
    folder = tmp_path / "dump"
    folder.mkdir()
    dump_xml(folder, "Users.xml", [
        'Id="1" Reputation="101" CreationDate="2020-01-01T10:00:00.000" DisplayName="Ann" Location="Oslo"',
        'Id="2" Reputation="5" CreationDate="2020-01-02T10:00:00.000" DisplayName="Bo"',
        'Id="3" Reputation="1" CreationDate="someday" DisplayName="Cy"',
    ])  # fmt: skip
    dump_xml(folder, "Posts.xml", [
        'Id="10" PostTypeId="1" CreationDate="2020-02-01T00:00:00.000" OwnerUserId="1" '
        'Body="&lt;p&gt;Is &amp;lt;b&amp;gt; allowed? A &amp;amp; B&lt;/p&gt;"',
        'Id="11" PostTypeId="2" ParentId="10" CreationDate="2020-02-02T00:00:00.000" OwnerUserId="2" '
        'Body="&lt;p&gt;Yes.&lt;/p&gt;"',
        'Id="12" PostTypeId="2" ParentId="10" CreationDate="2020-02-03T00:00:00.000" '
        'OwnerDisplayName="user9" Body="&lt;p&gt;No.&lt;/p&gt;"',
        'Id="13" PostTypeId="99" CreationDate="2020-02-04T00:00:00.000" OwnerUserId="1" Body="x"',
        'Id="14" PostTypeId="1" CreationDate="yesterday" OwnerUserId="2" Body="&lt;p&gt;Hi&lt;/p&gt;"',
    ])  # fmt: skip
    dump_xml(folder, "Comments.xml", [
        'Id="1" PostId="10" Text="Good &lt;question&gt;" CreationDate="2020-02-05T00:00:00.000" UserId="2"',
        'Id="2" PostId="11" Text="Gone" CreationDate="2020-02-05T01:00:00.000" UserDisplayName="user8"',
        'Id="3" PostId="10" Text="Thanks" CreationDate="2020-02-05T02:00:00.000" UserId="1"',
    ])  # fmt: skip
    dump_xml(folder, "Votes.xml", [
        'Id="1" PostId="10" VoteTypeId="2" CreationDate="2020-02-06T00:00:00.000"',
        'Id="2" PostId="11" VoteTypeId="3" CreationDate="2020-02-06T00:00:00.000"',
        'Id="3" PostId="999" VoteTypeId="2" CreationDate="2020-02-06T00:00:00.000"',
        'Id="4" PostId="12" VoteTypeId="2" CreationDate="2020-02-06T00:00:00.000"',
        'Id="5" PostId="11" VoteTypeId="10" CreationDate="2020-02-06T00:00:00.000"',
        'Id="6" PostId="11" VoteTypeId="1" CreationDate="2020-02-07T00:00:00.000"',
        'Id="7" PostId="10" VoteTypeId="5" UserId="2" CreationDate="2020-02-07T00:00:00.000"',
        'Id="8" PostId="10" VoteTypeId="42" CreationDate="2020-02-07T00:00:00.000"',
    ])  # fmt: skip
    dump_xml(folder, "Badges.xml", [
        'Id="1" UserId="1" Name="Teacher" Date="2020-02-08T00:00:00.000" Class="3" TagBased="False"',
        'Id="2" UserId="2" Name="Student" Date="not a date" Class="3" TagBased="False"',
    ])  # fmt: skip
    return folder
