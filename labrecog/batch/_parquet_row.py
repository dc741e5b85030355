"""A Parquet row that cannot be written as JSON: it travels as a line and becomes the
error record naming its row (``line``) and the value's path, never a crash of the file."""

from __future__ import annotations

from typing import Any

from labrecog._errors import InputError, InputProblem

__all__ = ["UnreadableRow"]


class UnreadableRow(bytes):
    """An empty stand-in for the row (like ``lines.OverLongLine`` for an over-long line).

    Its bytes are empty, so any reader that parses it fails (a joined order passes through
    unjoined); ``records.parse_json_line`` raises the :class:`InputError` that names the
    value, so the existing pipeline writes the error record unchanged. Whatever copies it
    to plain bytes still gets an error record ("empty line"): it fails closed either way.
    """

    path: str
    message: str
    order_id: str | None
    patient_id: str | None
    body: bytes
    """A results row's stand-in for its patient's cases (``join``): an object that no
    prior result validates as, so those orders are refused, never decided without it."""

    def __new__(
        cls,
        path: str,
        message: str,
        order_id: str | None = None,
        patient_id: str | None = None,
        body: bytes = b"",
    ) -> UnreadableRow:
        made = super().__new__(cls, b"")
        made.path, made.message, made.order_id = path, message, order_id
        made.patient_id, made.body = patient_id, body
        return made

    def error(self) -> InputError:
        return InputError([InputProblem(self.path, self.message)], self.order_id)

    def __reduce__(self) -> tuple[type[UnreadableRow], tuple[Any, ...]]:
        made = (self.path, self.message, self.order_id, self.patient_id, self.body)
        return (UnreadableRow, made)  # crosses to worker processes intact
