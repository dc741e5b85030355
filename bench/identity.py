"""Byte-identity proof: every output of this tree against a git revision's (default HEAD).

    .venv/bin/python bench/identity.py                  # against HEAD
    .venv/bin/python bench/identity.py --rev 4c97ccf    # against a commit
    .venv/bin/python bench/identity.py --cases 500      # a smaller bench workload
    .venv/bin/python bench/identity.py --against DIR    # against another checkout, as it is

The revision is checked out with ``git worktree add --detach`` into a temporary folder in
/tmp (removed afterwards, with ``git worktree prune``); both trees run with the same
interpreter, ``PYTHONPATH`` and the working folder set to the tree, and each tree's own
``rules/`` (a symlink to labrecog/rulesets or a real folder). The inputs are this tree's:

- examples/cases.jsonl with rules/demo: ``evaluate`` as JSONL (and its --summary-json), CSV;
- examples/fhir/bundles.ndjson with rules/demo: ``--format fhir``, and as CSV;
- every generated batch examples/NAME.jsonl.gz with rules/NAME (JSONL and summary);
- the bench default workload (``--cases`` generated cases in a temporary JSONL): JSONL,
  CSV and ``--jobs 2``;
- the Python API over the same lines: ``evaluate_json(raw)``, ``evaluate(dict)`` and
  ``validate_case(dict)``, each dumped with ``model_dump(mode="json")`` (errors as records).

Each output's sha256 and the exit code are compared; a difference prints the first
differing line. Exit 1 if anything differs, 2 if a run could not be made.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _workload import ROOT, RULES, generated_lines, write_jsonl

from labrecog import Engine

API = r"""
import gzip, sys, orjson
from labrecog import Engine, InputError
engine = Engine.from_path(sys.argv[1])
raw = open(sys.argv[2], "rb").read()
if raw[:2] == b"\x1f\x8b":
    raw = gzip.decompress(raw)
kind = sys.argv[4]
with open(sys.argv[3], "wb") as out:
    for n, line in enumerate(raw.splitlines(), start=1):
        try:
            if kind == "json":
                record = engine.evaluate_json(line).model_dump(mode="json")
            elif kind == "dict":
                record = engine.evaluate(orjson.loads(line)).model_dump(mode="json")
            else:
                record = engine.validate_case(orjson.loads(line)).model_dump(mode="json")
        except InputError as exc:
            record = exc.to_record(n)
        out.write(orjson.dumps(record) + b"\n")
"""

WHERE = "import labrecog, pathlib; print(pathlib.Path(labrecog.__file__).resolve().parent)"


@dataclass(frozen=True)
class Job:
    """One output to compare: a ``labrecog`` command line or an API kind, on one input."""

    name: str
    rules: str  # relative to each tree
    source: Path
    args: tuple[str, ...] = ()
    api: str = ""  # "json", "dict" or "case": the API script instead of the CLI
    summary: bool = False


def jobs(workload: Path) -> list[Job]:
    cases, bundles = (
        ROOT / "examples" / "cases.jsonl",
        ROOT / "examples" / "fhir" / "bundles.ndjson",
    )
    out = [
        Job("examples/cases.jsonl jsonl", "rules/demo", cases, summary=True),
        Job("examples/cases.jsonl csv", "rules/demo", cases, ("--format", "csv")),
        Job("examples/cases.jsonl api json", "rules/demo", cases, api="json"),
        Job("fhir/bundles.ndjson fhir", "rules/demo", bundles, ("--format", "fhir")),
        Job(
            "fhir/bundles.ndjson csv",
            "rules/demo",
            bundles,
            ("--input-format", "fhir", "--format", "csv"),
        ),
    ]
    for gz in sorted((ROOT / "examples").glob("*.jsonl.gz")):
        name = gz.name.removesuffix(".jsonl.gz")
        out += [
            Job(f"{gz.name} jsonl", f"rules/{name}", gz, summary=True),
            Job(f"{gz.name} api json", f"rules/{name}", gz, api="json"),
        ]
    bench = f"bench workload ({sum(1 for _ in workload.open('rb')):,})"
    out += [
        Job(f"{bench} jsonl", "rules/demo", workload, summary=True),
        Job(f"{bench} csv", "rules/demo", workload, ("--format", "csv")),
        Job(f"{bench} jsonl -j 2", "rules/demo", workload, ("--jobs", "2")),
        Job(f"{bench} api json", "rules/demo", workload, api="json"),
        Job(f"{bench} api dict", "rules/demo", workload, api="dict"),
        Job(f"{bench} api case", "rules/demo", workload, api="case"),
    ]
    return out


def environment(tree: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    found = subprocess.run(
        [sys.executable, "-c", WHERE], cwd=tree, env=env, capture_output=True, text=True
    )
    if found.returncode != 0 or Path(found.stdout.strip()) != (tree / "labrecog").resolve():
        sys.exit(f"{tree}: labrecog is imported from {found.stdout.strip() or found.stderr}")
    return env


def run(job: Job, tree: Path, env: dict[str, str], out: Path) -> tuple[int, list[Path]]:
    """Run ``job`` in ``tree``; its exit code and output files."""
    rules = str(tree / job.rules)
    if job.api:
        cmd = [sys.executable, "-c", API, rules, str(job.source), str(out), job.api]
        files = [out]
    else:
        cmd = [sys.executable, "-m", "labrecog", "evaluate", str(job.source), "--rules", rules]
        cmd += [*job.args, "-q", "-o", str(out)]
        files = [out]
        if job.summary:
            summary = out.with_suffix(".summary.json")
            cmd += ["--summary-json", str(summary)]
            files.append(summary)
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True)
    if done.returncode not in (0, 1):
        sys.stderr.write(done.stderr.decode("utf-8", "replace")[-2000:])
        print(f"{job.name}: exit {done.returncode} in {tree}", file=sys.stderr)
        sys.exit(2)
    return done.returncode, files


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "(missing)"


def first_difference(old: Path, new: Path) -> str:
    a = old.read_bytes().splitlines() if old.exists() else []
    b = new.read_bytes().splitlines() if new.exists() else []
    for n, (x, y) in enumerate(zip(a, b, strict=False), start=1):
        if x != y:
            at = next(i for i in range(min(len(x), len(y)) + 1) if x[i : i + 1] != y[i : i + 1])
            lo = max(at - 40, 0)
            return (
                f"line {n}, byte {at}:\n      old …{x[lo : at + 80]!r}\n"
                f"      new …{y[lo : at + 80]!r}"
            )
    return f"line {min(len(a), len(b)) + 1}: old has {len(a)} lines, new {len(b)}"


@contextlib.contextmanager
def worktree(rev: str, tmp: Path) -> Iterator[Path]:
    """``rev`` checked out in ``tmp`` (a detached worktree), removed afterwards."""
    path = tmp / "old-tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(path), rev],
        check=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False
        )
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="git revision to compare with (HEAD)")
    parser.add_argument("--against", type=Path, help="an existing tree instead of --rev")
    parser.add_argument("--cases", type=int, default=2_000, help="bench workload cases (2000)")
    args = parser.parse_args(argv)
    differing = 0
    with tempfile.TemporaryDirectory(prefix="labrecog-identity-") as name:
        tmp = Path(name)
        workload = tmp / "bench-workload.jsonl"
        write_jsonl(workload, generated_lines(Engine.from_path(RULES), args.cases))
        with contextlib.ExitStack() as stack:
            if args.against:
                old_tree, label = args.against.resolve(), str(args.against)
            else:
                old_tree, label = stack.enter_context(worktree(args.rev, tmp)), args.rev
            trees = {"old": (old_tree, environment(old_tree)), "new": (ROOT, environment(ROOT))}
            print(f"old: {label} ({old_tree})\nnew: this tree ({ROOT})\n")
            print(f"{'output':<46} {'exit':>9}  {'sha256 (new)':<16}  verdict")
            print("-" * 92)
            for i, job in enumerate(jobs(workload)):
                got = {}
                for side, (tree, env) in trees.items():
                    (tmp / side).mkdir(exist_ok=True)
                    got[side] = run(job, tree, env, tmp / side / f"{i}.out")
                (old_code, old_files), (new_code, new_files) = got["old"], got["new"]
                for n, (old, new) in enumerate(zip(old_files, new_files, strict=True)):
                    what = job.name if n == 0 else f"{job.name} (summary)"
                    same = sha(old) == sha(new) and old_code == new_code
                    differing += not same
                    codes = f"{old_code}/{new_code}"
                    print(
                        f"{what:<46} {codes:>9}  {sha(new)[:16]:<16}  "
                        f"{'identical' if same else 'DIFFERENT'}"
                    )
                    if sha(old) != sha(new):
                        print(f"    {first_difference(old, new)}")
    print("-" * 92)
    print("all outputs identical" if not differing else f"{differing} output(s) DIFFERENT")
    return 1 if differing else 0


if __name__ == "__main__":
    raise SystemExit(main())
