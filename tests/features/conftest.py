"""An S3 server for the tests of a lake at a URI.

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

import pyarrow.fs as pafs
import pytest

from bench.spark_cluster import free_port

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
