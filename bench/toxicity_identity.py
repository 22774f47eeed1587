"""Identity bias of the model steward serves (not a refit): the champion of a home scores
features.text.identity_terms' evaluation statements at its own review thresholds.

`bench.toxicity_loso` measures each linear recipe's identity table; the MiniLM recipe serves the
linear model averaged with a fine-tuned encoder for English, which only a trained model shows.
Without a champion in `--home`, experiments/toxicity_minilm.yaml is trained there first
(about 7 minutes on 2 cores).

Run: `python -m bench.toxicity_identity [--home DIR] [--model minilm|linear]`
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.toxicity.bias import bias_summary, served_identity_table, served_pair_summary

if TYPE_CHECKING:
    from models.toxicity.scoring import ToxicityScorer

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Train the recipe in its home if needed, then print the served model's identity table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/steward-bench-serving/real"))
    parser.add_argument("--model", choices=["minilm", "linear"], default="minilm")
    parser.add_argument(
        "--out", type=Path, default=ROOT / ".steward" / "bench" / "toxicity_identity.json"
    )
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from bench.serving import prepare
    from models.champions import load_toxicity_scorer

    home = args.home / args.model
    prepare(home, args.model, "real")  # sets STEWARD_HOME to this home
    report = served_report(load_toxicity_scorer(), args.model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


def served_report(scorer: ToxicityScorer, model: str) -> dict[str, Any]:
    """Print and return the scorer's identity table, pair and stacked statements at its cuts."""
    from rich.console import Console

    from bench.toxicity_loso import print_identity

    table = served_identity_table(scorer)
    name = f"served {model} (English route: {scorer.english_route})"
    print_identity(Console(width=200), name, table)
    for lang, part in table.groupby("lang"):
        print(
            f"{lang}: counter-speech flagged {part['flagged_counter'].mean():.3f} on average, "
            f"positive {part['flagged_positive'].mean():.3f}, hostile {part['flagged_hostile'].mean():.3f}"
        )
    pairs = served_pair_summary(scorer)
    print("statements naming two held-out groups at once, at the same review cuts:")
    print(pairs.round(3).to_string(index=False))
    stacked = served_pair_summary(scorer, stacked=True)
    print("English self-descriptions stacking two held-out groups ('a proud deaf Sikh woman'):")
    print(stacked.round(3).to_string(index=False))
    return {
        "summary": bias_summary(table),
        "groups": table.to_dict(orient="records"),
        "pairs": pairs.to_dict(orient="records"),
        "stacked": stacked.to_dict(orient="records"),
    }


if __name__ == "__main__":
    main()
