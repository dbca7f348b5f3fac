"""The environment variable names a pydantic-settings class reads, derived from its model.

Top-level fields read ``<prefix><FIELD>``; fields whose type is a BaseModel are also read
field by field as ``<prefix><FIELD>__<SUBFIELD>`` (env_nested_delimiter). Names are upper
case: every settings class here is case-insensitive, the pydantic-settings default.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_settings import BaseSettings


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel class inside an annotation like `Batch`, `Batch | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [m for a in typing.get_args(annotation) if (m := _model_in(a)) is not None]
        return models[0] if len(models) == 1 else None
    return None


def _field_names(model: type[BaseModel], stem: str, delimiter: str | None) -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        aliases = [a for a in (field.validation_alias, field.alias) if isinstance(a, str)]
        # pydantic-settings reads an aliased field by its alias alone, without the prefix.
        names |= {a.upper() for a in aliases} if aliases else {f"{stem}{name}".upper()}
        nested = _model_in(field.annotation)
        if nested is not None and delimiter:
            names |= _field_names(nested, f"{stem}{name}{delimiter}", delimiter)
    return names


def accepted_env_names(settings_cls: type[BaseSettings]) -> set[str]:
    config = settings_cls.model_config
    assert not config.get("case_sensitive"), "names below assume case-insensitive settings"
    prefix = config.get("env_prefix") or ""
    return _field_names(settings_cls, prefix, config.get("env_nested_delimiter"))


def unknown_env_names(names: set[str], settings_cls: type[BaseSettings]) -> set[str]:
    accepted = accepted_env_names(settings_cls)
    return {n for n in names if n.upper() not in accepted}
