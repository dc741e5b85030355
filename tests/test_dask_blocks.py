"""Cutting a JSONL file into byte ranges read on their own: every line exactly once, with
the number ``labrecog evaluate`` gives it, however the cuts fall (labrecog/dask/_blocks.py)."""

from __future__ import annotations

import gzip
import io
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from labrecog.batch.lines import UTF8_BOM, OverLongLine, capped_lines
from labrecog.dask._blocks import (
    Part,
    count_starts,
    input_kind,
    line_offsets,
    part_lines,
    plan_parts,
    prefix,
)

CAP = 1024  # the smallest --max-line-bytes

line_text = st.one_of(
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x")),
    st.just(b""),
    st.just(b"x" * (CAP + 7)),  # over the cap: an OverLongLine, read past, never kept
    st.just(b"y" * CAP),  # exactly at the cap
    st.just(UTF8_BOM + b"{}"),  # a BOM is dropped on line 1 only
)


def _shape(lines: list[tuple[int, bytes]]) -> list[tuple[int, bytes, bool]]:
    return [(n, bytes(raw), isinstance(raw, OverLongLine)) for n, raw in lines]


def read_in_parts(path: Path, block: int) -> list[tuple[int, bytes]]:
    parts = plan_parts([str(path)], block)
    offsets = prefix(*[count_starts(p) for p in parts])
    out: list[tuple[int, bytes]] = []
    for part in parts:
        got = list(part_lines(part, offsets[part.block] + 1, CAP))
        assert len(got) == count_starts(part) or part.kind != "jsonl"
        out.extend(got)
    return out


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(line_text, max_size=30),
    trailing=st.booleans(),
    block=st.integers(min_value=1, max_value=3000),
)
def test_parts_read_every_line_once_with_its_number(
    tmp_path: Path, lines: list[bytes], trailing: bool, block: int
) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing and lines else b"")
    assume(not data.startswith((b"\x1f\x8b", b"PAR1")))  # gzip or Parquet by their bytes
    path = tmp_path / "cases.jsonl"
    path.write_bytes(data)
    whole = list(capped_lines(io.BytesIO(data), CAP))
    assert _shape(read_in_parts(path, block)) == _shape(whole)


def test_a_cut_inside_a_long_line_gives_it_to_the_part_it_starts_in(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_bytes(b"a\n" + b"b" * 100 + b"\nc\n")
    empty = tmp_path / "empty.jsonl"  # last, so the file under test has whole blocks
    empty.write_bytes(b"")
    parts = [p for p in plan_parts([str(path), str(empty)], 10) if p.source == 0]
    assert len(parts) == 11
    counts = [count_starts(p) for p in parts]
    assert counts[0] == 2 and sum(counts) == 3 and counts[1:10] == [0] * 9
    assert list(part_lines(parts[0], 1, CAP)) == [(1, b"a\n"), (2, b"b" * 100 + b"\n")]
    assert list(part_lines(parts[10], 3, CAP)) == [(3, b"c\n")]


def test_gzip_and_empty_files_are_one_part_each(tmp_path: Path) -> None:
    gz = tmp_path / "cases.jsonl.gz"
    gz.write_bytes(gzip.compress(b"{}\n[]\n"))
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    parts = plan_parts([str(gz), str(empty)], 1)
    assert [(p.source, p.kind) for p in parts] == [(0, "gzip"), (1, "jsonl")]
    assert list(part_lines(parts[0], 1, CAP)) == [(1, b"{}\n"), (2, b"[]\n")]
    assert count_starts(parts[1]) == 0 and list(part_lines(parts[1], 1, CAP)) == []


def test_kind_is_read_from_the_bytes_not_the_name(tmp_path: Path) -> None:
    zipped = tmp_path / "plain.jsonl"
    zipped.write_bytes(gzip.compress(b"{}\n"))
    plain = tmp_path / "looks.gz"
    plain.write_bytes(b"{}\n")
    assert input_kind(str(zipped)) == "gzip"
    assert input_kind(str(plain)) == "jsonl"


@pytest.mark.parametrize("block", [1, 7, 4096])
def test_part_names_are_stable(tmp_path: Path, block: int) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_bytes(b"{}\n" * 50)
    first = [p.name for p in plan_parts([str(path), str(path)], block)]
    assert first == [p.name for p in plan_parts([str(path), str(path)], block)]
    assert len(set(first)) == len(first)
    assert Part(3, 12, "x", "jsonl").name == "part-00003-00012"


def test_a_part_that_reads_another_line_count_than_counted_fails(tmp_path: Path) -> None:
    """The parts after it were numbered from the count: a part reading a different number
    of lines must not count as done (no stats file), so the run cannot finish as if."""
    from labrecog.dask._task import PartOptions, run_part
    from labrecog.load import load_ruleset

    path = tmp_path / "cases.jsonl"
    path.write_bytes(b"{}\n[]\n")
    (part,) = plan_parts([str(path)], 4096)
    rules = load_ruleset(str(Path(__file__).resolve().parent.parent / "rules" / "demo"))
    out = tmp_path / "out"
    out.mkdir()
    counted = line_offsets({0: [count_starts(part)]})
    assert counted == {0: [0, 2]}
    assert run_part(part, counted, rules, PartOptions(str(out))).lines == 2
    (out / f".{part.name}.done").unlink()
    (out / f"{part.name}.jsonl").unlink()
    with pytest.raises(RuntimeError, match="read 2 lines where 3 start"):
        run_part(part, {0: [0, 3]}, rules, PartOptions(str(out)))
    assert not list(out.iterdir())  # not even the part's file: it fails before the rename


def test_joined_reading_tasks_check_their_line_count_too(tmp_path: Path) -> None:
    """Joined mode numbers its orders and results from the same counts: a reading task
    that reads another number of lines fails as a plain part does (it did not check)."""
    from labrecog.dask._joined import order_rows, result_rows
    from labrecog.dask._task import PartOptions
    from labrecog.load import load_ruleset

    path = tmp_path / "lines.jsonl"
    path.write_bytes(b'{"patient": {"id": "p"}}\n{}\n')
    (part,) = plan_parts([str(path)], 4096)
    out = tmp_path / "out"
    out.mkdir()
    options = PartOptions(str(out))
    offsets = prefix(count_starts(part), 0)
    assert order_rows(part, offsets, options, 0)[0] == 2
    with pytest.raises(RuntimeError, match="read 2 lines where 1 start"):
        order_rows(part, [0, 1], options, 0)
    rules = load_ruleset(str(Path(__file__).resolve().parent.parent / "rules" / "demo"))
    assert result_rows(part, offsets, rules, options, 1)[0].lines == 2
    for made in out.iterdir():
        made.unlink()
    with pytest.raises(RuntimeError, match="read 2 lines where 3 start"):
        result_rows(part, [0, 3], rules, options, 1)
    assert not list(out.iterdir())


def test_the_last_file_ends_on_small_parts_the_others_on_whole_blocks(tmp_path: Path) -> None:
    """Parts run in input order: the run's last file is cut finer at its end (an eighth of
    a block), so no worker idles a whole block at the end; every byte in exactly one."""
    first, last = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(b"x" * 1000)
    last.write_bytes(b"x" * 1000)
    parts = plan_parts([str(first), str(last)], 100)
    for path in (first, last):
        own = [p for p in parts if p.path == str(path)]
        assert own[0].start == 0 and own[-1].end == 1000
        assert all(a.end == b.start for a, b in pairwise(own))
        assert [p.block for p in own] == list(range(len(own)))
    sizes = [p.end - p.start for p in parts if p.path == str(last)]
    assert [p.end - p.start for p in parts if p.path == str(first)] == [100] * 10
    assert sizes == [100] * 8 + [50, 50, 25, 25, 12, 12, 12, 14]
    small = tmp_path / "c.jsonl"
    small.write_bytes(b"x" * 400)  # four blocks or fewer: nothing to taper
    assert [p.end - p.start for p in plan_parts([str(small)], 100)] == [100] * 4
