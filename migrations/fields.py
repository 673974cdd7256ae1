"""Find the datetime and date fields of redis-om 1.x models (pure: inspects classes, touches no server).

redis-om's own migration only looks at bare `datetime` annotations and misses `Optional[datetime]`;
here every annotation is unwrapped through Optional/Union/Annotated, and JsonModel fields are followed
into embedded models and lists.
"""

from __future__ import annotations

import datetime
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Union

from om_runbook.migrations.codec import FieldKind

# A JSON path step: a field name, or LIST_ITEMS for "every element of this list".
LIST_ITEMS = "[*]"


@dataclass(frozen=True, slots=True)
class DatetimeField:
    """A datetime/date field; `path` has one name for a hash field, several steps inside JSON."""

    path: tuple[str, ...]
    kind: FieldKind
    optional: bool = False  # the annotation admits None: redis-om 0.2.x wrote '' for it in a hash

    @property
    def name(self) -> str:
        return ".".join(self.path)

    @property
    def json_path(self) -> str:
        return "$" + "".join(step if step == LIST_ITEMS else f".{step}" for step in self.path)


def _union_members(annotation: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(annotation)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return tuple(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return None


def unwrap_annotation(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional/Union-with-None down to the single inner type, if there is one."""
    while True:
        if typing.get_origin(annotation) is Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        members = _union_members(annotation)
        if members is not None and len(members) == 1:
            annotation = members[0]
            continue
        return annotation


def admits_none(annotation: Any) -> bool:
    """Optional[...] / Union[..., None] / `... | None`, also under Annotated."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    members = _union_members(annotation)  # the union's members without None
    return members is not None and len(members) < len(typing.get_args(annotation))


def datetime_kind(annotation: Any) -> FieldKind | None:
    """FieldKind for a datetime/date annotation (after unwrapping), else None."""
    inner = unwrap_annotation(annotation)
    if inner is datetime.datetime:
        return FieldKind.DATETIME
    if inner is datetime.date:
        return FieldKind.DATE
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and hasattr(annotation, "model_fields")


def _list_item(annotation: Any) -> Any | None:
    if typing.get_origin(annotation) in (list, typing.List, tuple, set, frozenset):  # noqa: UP006
        args = typing.get_args(annotation)
        return args[0] if args else None
    return None


def _walk(annotation: Any, prefix: tuple[str, ...], seen: frozenset[type]) -> list[DatetimeField]:
    kind = datetime_kind(annotation)
    if kind is not None:
        return [DatetimeField(prefix, kind)]
    inner = unwrap_annotation(annotation)
    item = _list_item(inner)
    if item is not None:
        return _walk(item, (*prefix, LIST_ITEMS), seen)
    if _is_model(inner) and inner not in seen:
        found: list[DatetimeField] = []
        for name, info in inner.model_fields.items():
            found.extend(_walk(info.annotation, (*prefix, name), seen | {inner}))
        return found
    return []


def hash_datetime_fields(model: type) -> list[DatetimeField]:
    """Top-level datetime/date fields of a HashModel (hashes are flat)."""
    found = []
    for name, info in model.model_fields.items():
        kind = datetime_kind(info.annotation)
        if kind is not None:
            found.append(DatetimeField((name,), kind, admits_none(info.annotation)))
    return found


def json_datetime_fields(model: type) -> list[DatetimeField]:
    """Datetime/date fields of a JsonModel, including inside embedded models and lists."""
    found: list[DatetimeField] = []
    for name, info in model.model_fields.items():
        found.extend(_walk(info.annotation, (name,), frozenset({model})))
    return found


def embedded_models(model: type) -> list[type]:
    """The model classes embedded in a model's fields, at any depth (redis-om's EmbeddedJsonModel classes, which
    hold their own database connection)."""
    found: list[type] = []

    def walk(annotation: Any) -> None:
        inner = unwrap_annotation(annotation)
        item = _list_item(inner)
        if item is not None:
            walk(item)
        elif _is_model(inner) and inner not in found and inner is not model:
            found.append(inner)
            for info in inner.model_fields.values():
                walk(info.annotation)

    for info in model.model_fields.values():
        walk(info.annotation)
    return found
