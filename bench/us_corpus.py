"""Counts over the US-style FHIR corpus: what rules/us-retest decides on Synthea-shaped feeds.

    .venv/bin/python bench/us_corpus.py                 # tests/fixtures/fhir-us/bundles.ndjson
    .venv/bin/python bench/us_corpus.py --rules rules/uk-mri   # the same Bundles, another rule set
    .venv/bin/python bench/us_corpus.py --json          # the counts as JSON

Each line of the corpus is one patient's Bundle (patients re-ordering their own recent tests,
written by tests/fixtures/fhir-us/make_bundles.py). Every Bundle is read with
``labrecog.fhir.read_bundle`` and decided by the engine; the script prints the number of
Bundles, ordered items, the status mix, the waivers (whole items, and components waived
inside partly waived panels), the saving, and how many items carry each reason code.
A Bundle the reader refuses is counted as an error with its first problem.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

from labrecog import Engine
from labrecog.fhir import FhirInputError, read_bundle

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "fhir-us" / "bundles.ndjson"
RULES = ROOT / "rules" / "us-retest"


@dataclass
class Counts:
    bundles: int = 0
    errors: list[str] = field(default_factory=list)
    items: int = 0
    status: Counter[str] = field(default_factory=Counter)
    waivers: int = 0  # items waived whole
    waived_components: int = 0  # components waived inside partly waived panels
    saving: Decimal = Decimal("0")
    currency: str = ""
    reasons: Counter[str] = field(default_factory=Counter)  # items carrying each code

    def report(self) -> str:
        mix = ", ".join(f"{s} {self.status[s]}" for s in ("waive", "partial", "retest"))
        lines = [
            f"bundles {self.bundles}  decided {self.bundles - len(self.errors)}"
            f"  refused {len(self.errors)}",
            f"items {self.items}: {mix}",
            f"waivers {self.waivers} items whole, {self.waived_components} components inside"
            f" partly waived panels",
            f"saving {self.saving:.2f} {self.currency}",
            "reasons (items carrying each): "
            + ", ".join(f"{code} {n}" for code, n in sorted(self.reasons.items(), key=_order)),
        ]
        lines += [f"refused: {e}" for e in self.errors]
        return "\n".join(lines)


def _order(pair: tuple[str, int]) -> tuple[int, str]:
    return -pair[1], pair[0]


def corpus_counts(corpus: Path = CORPUS, rules: Path = RULES) -> Counts:
    engine = Engine.from_path(rules)
    out = Counts(currency=engine.rules.currency)
    for number, line in enumerate(corpus.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        out.bundles += 1
        try:
            fhir_case = read_bundle(json.loads(line), engine)
        except FhirInputError as exc:
            first = exc.problems[0] if exc.problems else None
            where = f"{first.path}: {first.message}" if first else str(exc)
            out.errors.append(f"line {number}: {where}")
            continue
        decision = engine.evaluate(fhir_case.case)
        out.saving += Decimal(decision.saving)
        for item in decision.items:
            out.items += 1
            out.status[item.status] += 1
            out.waivers += item.status == "waive"
            if item.status == "partial":
                out.waived_components += len(item.waived or ())
            out.reasons.update({reason.code for reason in item.reasons})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="NDJSON of Bundles")
    parser.add_argument("--rules", type=Path, default=RULES, help="rule-set folder")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = parser.parse_args(argv)
    counts = corpus_counts(args.corpus, args.rules)
    if args.json:
        data = asdict(counts)
        data["saving"] = f"{counts.saving:.2f}"
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(f"{args.corpus.name} with {args.rules.name}")
        print(counts.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
