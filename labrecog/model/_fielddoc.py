"""Field descriptions in ``help()``: a model's docstring gains the list of its fields.

``Field(description=...)`` reaches the JSON Schema but not ``help(labrecog.Case)``, which
prints the docstring only. Each base model calls :func:`list_fields` for its subclasses;
the JSON Schema keeps the class's own docstring (:func:`schema_description`), since its
properties carry the same descriptions already.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["DocumentedModel", "list_fields", "schema_description"]

_OWN_DOC: dict[type[BaseModel], str] = {}


def list_fields(cls: type[BaseModel]) -> None:
    """Append "Fields:" with each field's description to ``cls.__doc__``."""
    own = inspect.cleandoc(cls.__doc__ or "")
    _OWN_DOC[cls] = own
    lines = [
        f"    {name}: {field.description}"
        for name, field in cls.model_fields.items()
        if field.description
    ]
    if lines:
        cls.__doc__ = "\n".join([own, "", "Fields:", *lines]) if own else "\n".join(lines)


def schema_description(schema: dict[str, Any], cls: type[Any]) -> None:
    """``json_schema_extra`` hook: the schema describes a model by its own docstring."""
    own = _OWN_DOC.get(cls)
    if own:
        schema["description"] = own
    elif own is not None:
        schema.pop("description", None)


class DocumentedModel(BaseModel):
    """Base of the case and the rule-format models: unknown keys are errors, values are
    frozen, NaN and infinities refused, and every subclass lists its fields in ``help()``."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, json_schema_extra=schema_description
    )

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        list_fields(cls)
