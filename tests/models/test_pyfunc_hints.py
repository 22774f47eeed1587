"""The pyfunc models carry the type hints MLflow asks for: loading one prints no warning."""

from __future__ import annotations

import json
import subprocess
import sys

# MLflow checks predict's hints when a PythonModel subclass is defined, i.e. in every process
# that imports the class to load a model (the demo, the server): a fresh process sees it.
CODE = """
import json, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as seen:
    import models.churn.pyfunc, models.toxicity.pyfunc
print(json.dumps([str(w.message) for w in seen]))
"""


def test_importing_the_pyfunc_models_gives_no_type_hint_warning() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120, check=True
    )
    messages = json.loads(done.stdout.strip().splitlines()[-1])
    assert not [m for m in messages if "type hint" in m.lower()], messages
