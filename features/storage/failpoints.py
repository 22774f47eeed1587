"""Named kill points for the fault tests: `STEWARD_FAILPOINT=lake.before_publish` SIGKILLs there.

A failpoint costs one environment lookup when it is reached and nothing at import. It exists so
that tests can kill a real `steward` process at the exact moment that would leave half-state
(parts written but not published, a model registered but not promoted) and check the next run.
"""

from __future__ import annotations

import os
import signal

ENV = "STEWARD_FAILPOINT"

POINTS = (
    "lake.parts_written",  # ingest parts complete on disk, manifest not touched
    "lake.manifest_written",  # new manifest written aside, not yet os.replace'd
    "features.written_aside",  # new build complete aside, the symlink not swapped
    "features.swapped",  # symlink swapped, the previous build not yet removed
    "train.run_started",  # MLflow run open (RUNNING), nothing logged
    "train.model_logged",  # model logged to the run, not registered
    "registry.version_registered",  # version registered, champion alias not moved
    "registry.alias_moved",  # alias moved, the version's tags not yet written
    "score.written_aside",  # new at-risk table written aside, not yet os.replace'd
)


def failpoint(name: str) -> None:
    """SIGKILL this process if STEWARD_FAILPOINT lists this point (comma-separated)."""
    wanted = os.environ.get(ENV)
    if wanted and name in wanted.split(","):
        # SIGKILL, not an exception: no finally blocks, no atexit, exactly what a crash leaves.
        os.kill(os.getpid(), signal.SIGKILL)
