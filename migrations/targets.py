"""Which models a migration touches: import the user's redis-om 1.x models module and describe its targets.

Models are found by inspecting the module (subclasses of redis_om or aredis_om HashModel/JsonModel),
not only through redis-om's registry, which misses models declared without `index=True`.
"""

from __future__ import annotations

import abc
import importlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from types import ModuleType
from typing import TYPE_CHECKING

from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.fields import DatetimeField, hash_datetime_fields, json_datetime_fields

if TYPE_CHECKING:
    from om_runbook.migrations.backup_format import TargetInfo


class Storage(str, Enum):
    HASH = "hash"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class ModelTarget:
    """One model to migrate: where its keys live and which fields change."""

    module: str
    class_name: str
    storage: Storage
    key_prefix: str
    fields: tuple[DatetimeField, ...]
    index_name: str = ""

    @property
    def name(self) -> str:
        return f"{self.module}.{self.class_name}"

    @property
    def bookkeeping_keys(self) -> frozenset[bytes]:
        """redis-om's own `{index}:hash` and `{index}:schema` keys, which may sit under the model's prefix: they are
        not records (the 1.x index name, and the default one 0.x used)."""
        names = {self.index_name, f"{self.key_prefix}index"} - {""}
        return frozenset(f"{name}:{suffix}".encode() for name in names for suffix in ("hash", "schema"))

    def load_class(self) -> type:
        return getattr(importlib.import_module(self.module), self.class_name)


def _base_classes() -> tuple[tuple[type, Storage], ...]:
    import aredis_om
    import redis_om

    return (
        (redis_om.HashModel, Storage.HASH),
        (aredis_om.HashModel, Storage.HASH),
        (redis_om.JsonModel, Storage.JSON),
        (aredis_om.JsonModel, Storage.JSON),
    )


def storage_of(model: type) -> Storage | None:
    """HASH or JSON for a concrete redis-om model class; None for anything else (abstract, embedded)."""
    if not inspect.isclass(model) or abc.ABC in model.__bases__:
        return None
    meta = getattr(model, "_meta", None)
    if meta is None or getattr(meta, "embedded", False):
        return None
    for base, storage in _base_classes():
        if model is not base and issubclass(model, base):
            return storage
    return None


def key_prefix_of(model: type) -> str:
    """The prefix every key of the model starts with (redis-om's own rule, e.g. `:app.models.Order:`)."""
    return model.make_key(model._meta.primary_key_pattern.format(pk=""))


def describe_model(model: type) -> ModelTarget | None:
    """A ModelTarget for a model with datetime/date fields; None when there is nothing to migrate."""
    storage = storage_of(model)
    if storage is None:
        return None
    fields = hash_datetime_fields(model) if storage is Storage.HASH else json_datetime_fields(model)
    if not fields:
        return None
    index_name = str(getattr(model._meta, "index_name", "") or "")
    return ModelTarget(model.__module__, model.__name__, storage, key_prefix_of(model), tuple(fields), index_name)


def import_models_module(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:  # any error in the user's module is a configuration error for us
        raise ConfigurationError(f"cannot import models module {module_name!r}: {type(exc).__name__}: {exc}") from exc


def key_prefixes(targets: Sequence[ModelTarget | TargetInfo], storage: Storage) -> list[str]:
    """The key prefixes of the targets stored as `storage` (from the models, or as a backup manifest records them)."""
    return [target.key_prefix for target in targets if Storage(target.storage) is storage]


def discover_targets(module_name: str) -> list[ModelTarget]:
    """Every model in `module_name` (or re-exported by it) with datetime/date fields, sorted by name."""
    module = import_models_module(module_name)
    models = {id(value): value for value in vars(module).values() if storage_of(value) is not None}
    targets = [t for t in map(describe_model, models.values()) if t is not None]
    if not targets:
        raise ConfigurationError(
            f"models module {module_name!r} defines no redis-om HashModel/JsonModel with datetime or date "
            "fields: nothing to migrate"
        )
    prefixes = sorted(t.key_prefix for t in targets)
    for shorter, longer in zip(prefixes, prefixes[1:], strict=False):
        if longer.startswith(shorter):
            raise ConfigurationError(f"key prefixes overlap: {shorter!r} is a prefix of {longer!r}")
    return sorted(targets, key=lambda t: t.name)
