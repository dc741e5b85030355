"""``labrecog diff``: which decisions and savings a rule change would alter (docs/diff.md).

Rule authors run it before publishing a new version over real cases, so it streams like
``evaluate``: each line is evaluated under both rule sets and only counters and a bounded
sample are kept (see :class:`labrecog.batch.compare.RuleDiff`).
"""

from __future__ import annotations

import os
import sys
import zlib
from typing import Any

import click
import orjson
from rich import box
from rich.console import Console
from rich.table import Table

from labrecog.batch.compare import RuleDiff
from labrecog.batch.io import numbered_lines, open_input
from labrecog.batch.records import evaluate_line
from labrecog.cli.common import EXIT_RULES, StdoutConsole, load_engine, stdout_may_close
from labrecog.engine import Engine
from labrecog.lint import finding_record, lint_delta

__all__ = ["diff"]

_PIPE_WIDTH = 120  # rich assumes 80 columns off a terminal: too narrow for the sample table


@click.command()
@click.argument("cases", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--old", "old_dir", required=True, type=click.Path(exists=True), help="Current rule set."
)
@click.option(
    "--new", "new_dir", required=True, type=click.Path(exists=True), help="Proposed rule set."
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as one JSON object.")
@click.option(
    "--sample",
    "sample_size",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Changed cases shown with both explanations.",
)
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Language of reason messages.")
@click.option("--lint", "with_lint", is_flag=True,
              help="Also show which lint findings the change adds and removes.")  # fmt: skip
@stdout_may_close
def diff(
    cases: str, old_dir: str, new_dir: str, as_json: bool, sample_size: int, lang: str | None,
    with_lint: bool,
) -> None:  # fmt: skip
    """Evaluate CASES (JSONL; '-' for stdin; gzip recognised) under the --old and the --new
    rule set and report what changed: item statuses by test and by old→new status, total
    saving, lines that became or stopped being errors, and a sample of changed cases.

    Exit 0 whatever changed (a change is information, not failure); 2 for an invalid rule
    set or unreadable input.
    """
    old_engine = load_engine(old_dir, lang)
    new_engine = load_engine(new_dir, lang)
    result = RuleDiff(
        old_ruleset=_ruleset(old_engine),
        new_ruleset=_ruleset(new_engine),
        sample_size=sample_size,
    )
    try:
        with open_input(cases) as stream:
            for line_no, raw in numbered_lines(stream):
                old = evaluate_line(old_engine, line_no, raw)
                new = evaluate_line(new_engine, line_no, raw)
                result.add(line_no, old, new)
    except (OSError, EOFError, zlib.error) as exc:
        click.echo(f"labrecog: cannot read {cases}: {exc}", err=True)
        sys.exit(EXIT_RULES)
    data = result.as_dict()
    if with_lint:
        added, removed = lint_delta(old_dir, new_dir, "zh" if lang == "zh" else "en")
        data["lint"] = {"added": [finding_record(f) for f in added],
                        "removed": [finding_record(f) for f in removed]}  # fmt: skip
    if as_json:
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode("utf-8"))
        return
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    console = StdoutConsole(
        file=sys.stdout, highlight=False, width=_PIPE_WIDTH if piped else max(100, _columns())
    )
    _print(console, data)
    if with_lint:
        _print_lint(console, data["lint"])


def _columns() -> int:
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        return _PIPE_WIDTH


def _ruleset(engine: Engine) -> dict[str, Any]:
    rules = engine.rules
    return {
        "id": rules.id,
        "version": rules.version,
        "digest": rules.digest,
        "currency": rules.currency,
    }


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, min_width=len(title) + 2)
    for name in columns:
        table.add_column(name, justify="right" if name in {"items", "cases"} else "left")
    return table


def _reasons(side: dict[str, Any]) -> str:
    if not side["reasons"]:
        return "—"
    return "\n".join(f"{r.get('code')}: {r.get('message', '')}" for r in side["reasons"])


def _print(console: Console, data: dict[str, Any]) -> None:
    rulesets = _table("Rule sets", "", "id", "version", "currency", "digest")
    for label in ("old", "new"):
        rs = data[f"{label}_ruleset"]
        rulesets.add_row(label, rs["id"], rs["version"], rs["currency"], rs["digest"])
    console.print(rulesets)
    if data["currency_differs"]:
        console.print("note: the two rule sets use different currencies; savings are per currency")
    errors = data["errors"]
    console.print(
        f"cases {data['cases']}  changed cases {data['changed_cases']}  "
        f"items compared {data['items_compared']}  status changed "
        f"{data['items_status_changed']}  saving changed (same status) "
        f"{data['items_saving_changed']}\n"
        f"error records: became {errors['became_error']}  stopped {errors['stopped_error']}  "
        f"in both {errors['both']}"
    )
    for key, lines in (("became", "became_error_lines"), ("stopped", "stopped_error_lines")):
        if errors[lines]:
            console.print(f"  lines that {key} errors: {', '.join(map(str, errors[lines]))}")
    console.print()
    saving = _table("Total saving", "currency", "old", "new", "change")
    for currency, delta in data["saving"]["delta"].items():
        old = data["saving"]["old"].get(currency, "0")
        new = data["saving"]["new"].get(currency, "0")
        sign = "+" if not delta.startswith("-") else ""
        saving.add_row(currency or "?", old, new, f"{sign}{delta}")
    console.print(saving)
    if data["changes"]:
        by_test = _table("Status changes by test", "test", "items")
        for row in data["by_test"]:
            by_test.add_row(row["test"], str(row["items"]))
        console.print(by_test)
        by_status = _table("Status changes by old → new", "old → new", "items")
        for row in data["by_status"]:
            by_status.add_row(f"{row['old']} → {row['new']}", str(row["items"]))
        console.print(by_status)
    else:
        console.print("no item changed status\n")
    if data["sample"]:
        _print_sample(console, data["sample"])


def _print_sample(console: Console, sample: list[dict[str, Any]]) -> None:
    table = _table(
        f"Sample of changed cases ({len(sample)})",
        "line",
        "order",
        "item",
        "old",
        "new",
        "old reasons",
        "new reasons",
    )
    for case in sample:
        line, order = str(case["line"]), str(case["order_id"] or "")
        if not case["items"]:
            table.add_row(
                line,
                order,
                "(case)",
                "error" if case.get("old_error") else f"decided {case['old_saving']}",
                "error" if case.get("new_error") else f"decided {case['new_saving']}",
                _error_text(case.get("old_error")),
                _error_text(case.get("new_error")),
            )
        for item in case["items"]:
            old, new = item["old"], item["new"]
            table.add_row(
                line,
                order,
                item["code"],
                f"{old['status']} {old['saving'] or ''}".strip(),
                f"{new['status']} {new['saving'] or ''}".strip(),
                _reasons(old),
                _reasons(new),
            )
            line = order = ""
        table.add_section()
    console.print(table)


def _error_text(error: dict[str, Any] | None) -> str:
    if error is None:
        return "—"
    path = f" at {error['path']}" if error.get("path") else ""
    return f"{error.get('code')}{path}: {error.get('message', '')}"


def _print_lint(console: Console, delta: dict[str, list[dict[str, Any]]]) -> None:
    """Lint findings the change adds (+) and removes (−), as ``labrecog lint`` writes them."""
    console.print()
    console.print(f"Lint: {len(delta['added'])} added, {len(delta['removed'])} removed")
    for sign, key in (("+", "added"), ("-", "removed")):
        for f in delta[key]:
            console.print(f"{sign} {f['file']}:{f['line']}:{f['col']}: {f['severity']} "
                          f"{f['code']}: {f['message']}", markup=False, soft_wrap=True)  # fmt: skip
