"""Which models a migration touches: import the user's redis-om 1.x models modules and describe their targets.

`--models` names modules or packages (comma-separated when repeated); a package means every module in it, namespace
packages (directories without `__init__.py`) included. Models are found by inspecting the modules (subclasses of
redis_om or aredis_om HashModel/JsonModel), not only through redis-om's registry, which misses models declared
without `index=True`.
"""

from __future__ import annotations

import abc
import importlib
import inspect
import pkgutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
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


def models_modules(models: str) -> list[str]:
    """The module names of a `--models` value ("app.models,app.legacy"), in order, each once."""
    names = [name.strip() for name in models.split(",")]
    if not all(names) or not all(part.isidentifier() for name in names for part in name.split(".")):
        raise ConfigurationError(f"--models {models!r}: give importable module or package names (a.b.c)")
    return list(dict.fromkeys(names))


def import_models_module(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except SystemExit as exc:  # a module that ends the process at import would end the run with it
        raise ConfigurationError(
            f"cannot import models module {module_name!r}: the models module exited at import (sys.exit({exc.code!r}))"
        ) from None
    except Exception as exc:  # any error in the user's module is a configuration error for us
        last_line = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ConfigurationError(f"cannot import models module {module_name!r}: {last_line}") from None


def _namespace_subpackages(package: ModuleType) -> Iterator[str]:
    """Directories without `__init__.py` below a package (pkgutil lists only regular packages)."""
    for directory in map(Path, package.__path__):
        for child in sorted(directory.iterdir()) if directory.is_dir() else []:
            if child.is_dir() and child.name.isidentifier() and not (child / "__init__.py").exists():
                yield f"{package.__name__}.{child.name}"


def walk_models_modules(module_name: str) -> Iterator[ModuleType]:
    """The module, and when it is a package every module and package below it."""
    module = import_models_module(module_name)
    yield module
    if not hasattr(module, "__path__"):
        return
    children = [info.name for info in pkgutil.iter_modules(module.__path__, module_name + ".")]
    for child in sorted({*children, *_namespace_subpackages(module)}):
        yield from walk_models_modules(child)


def key_prefixes(targets: Sequence[ModelTarget | TargetInfo], storage: Storage) -> list[str]:
    """The key prefixes of the targets stored as `storage` (from the models, or as a backup manifest records them)."""
    return [target.key_prefix for target in targets if Storage(target.storage) is storage]


def discover_targets(models: str) -> list[ModelTarget]:
    """Every model in the `--models` modules and packages (or re-exported by them) with datetime/date fields, each
    once however many modules reach it, sorted by name."""
    found: dict[int, type] = {}
    for name in models_modules(models):
        for module in walk_models_modules(name):
            found |= {id(value): value for value in vars(module).values() if storage_of(value) is not None}
    targets = [t for t in map(describe_model, found.values()) if t is not None]
    if not targets:
        raise ConfigurationError(
            f"models {models!r}: no redis-om HashModel/JsonModel with datetime or date fields: nothing to migrate"
        )
    prefixes = sorted(t.key_prefix for t in targets)
    for shorter, longer in zip(prefixes, prefixes[1:], strict=False):
        if longer.startswith(shorter):
            raise ConfigurationError(f"key prefixes overlap: {shorter!r} is a prefix of {longer!r}")
    return sorted(targets, key=lambda t: t.name)
