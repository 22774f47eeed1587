"""How to start the server and call it: the text `steward demo` ends with."""

from __future__ import annotations

import json
from collections.abc import Sequence


def curl_examples(
    host: str = "127.0.0.1",
    port: int = 8000,
    key: str | None = None,
    member_id: str = "MEMBER_ID",
    attributes: Sequence[str] = ("TOXICITY",),
) -> str:
    """Commands to start `steward serve` and curl every kind of route (with or without a key);
    the Perspective request asks for `attributes`, which should be what the model serves."""
    analyze = {
        "comment": {"text": "You are an idiot"},
        "requestedAttributes": {name: {} for name in attributes},
    }
    base = f"http://{host}:{port}"
    auth = f' -H "Authorization: Bearer {key}"' if key else ""
    start = "steward serve" + ("" if key else " --no-auth")
    lines = [
        "Start the scoring server (Ctrl-C stops it), then in another terminal:",
        f"  {start}",
        f"  curl -s {base}/readyz",
        f"  curl -s{auth} -X POST {base}/v1/posts:score -H 'Content-Type: application/json' \\",
        """    -d '{"posts": [{"id": "1", "text": "You are an idiot"}, {"id": "2", "text": "你就是个白痴", "lang": "zh"}]}'""",
        f"  curl -s{auth} -X POST {base}/v1alpha1/comments:analyze -H 'Content-Type: application/json' \\",
        f"    -d '{json.dumps(analyze)}'",
        f"  curl -s{auth} '{base}/v1/members/at-risk?limit=5&tier=high'",
        f"  curl -s{auth} '{base}/v1/members/at-risk?limit=100&format=csv' -o at_risk.csv",
        f"  curl -s{auth} {base}/v1/members/{member_id}/churn",
        f"  curl -s {base}/metrics | grep steward_",
    ]
    if not key:
        lines.append(
            "For other machines, create keys with `steward serve --new-key NAME --scope posts:score` "
            "and set STEWARD_SERVE_API_KEYS and STEWARD_SERVE_HOST."
        )
    return "\n".join(lines)
