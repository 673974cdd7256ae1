"""The redis-om 1.x search index of each model, defined by redis-om itself, and the previous definition kept
for rollback (pure: no I/O; FT.INFO replies are parsed here, read elsewhere).

`om migrate` sends `FT.CREATE {Meta.index_name} {Model.redisearch_schema()}` and stores the schema's sha1
under `{index}:hash` (and the text under `{index}:schema`); the plan reproduces exactly that command.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

NEW_INDEX_SUFFIX = ":om1"  # the zero-downtime variant builds the new index under this name, then aliases it


@dataclass(frozen=True)
class IndexPlan:
    model: str
    index_name: str
    schema: str  # redis-om's own Model.redisearch_schema()

    @property
    def schema_hash(self) -> str:
        return hashlib.sha1(self.schema.encode("utf-8")).hexdigest()  # noqa: S324 - redis-om's own key, not security

    @property
    def build_name(self) -> str:
        return self.index_name + NEW_INDEX_SUFFIX

    def create_args(self, name: str | None = None) -> list[str]:
        """FT.CREATE as redis-om sends it (redis-py splits its one-string command on whitespace)."""
        return ["FT.CREATE", name or self.index_name, *self.schema.split()]


def index_plan(model_class: Any) -> IndexPlan | None:
    """The plan for one redis-om model class; None when it has no search index (not `index=True`: like
    `om migrate`, which walks redis-om's model registry, only registered classes get one). redis_om and aredis_om
    keep a registry each."""
    from aredis_om.model.model import model_registry as async_registry
    from redis_om.model.model import model_registry

    name = f"{model_class.__module__}.{model_class.__qualname__}"
    if model_class is not model_registry.get(name) and model_class is not async_registry.get(name):
        return None
    try:
        schema = model_class.redisearch_schema()
    except NotImplementedError:
        return None
    return IndexPlan(f"{model_class.__module__}.{model_class.__name__}", model_class.Meta.index_name, schema)


class PreviousIndex(BaseModel):
    """What stood under the index name before the schema step, to put it back on rollback."""

    index_name: str
    existed: bool
    create_args: list[str] = []  # rebuilt from FT.INFO (or the stored schema text)
    schema_hash: str | None = None  # the `{index}:hash` key redis-om keeps
    schema_text: str | None = None  # the `{index}:schema` key, when present


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _pairs(reply: Any) -> dict[str, Any]:
    if isinstance(reply, dict):
        return {_text(k): v for k, v in reply.items()}
    items = list(reply or [])
    return {_text(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2)}


_ATTRIBUTE_FLAGS = {"SORTABLE", "UNF", "NOSTEM", "NOINDEX", "CASESENSITIVE", "WITHSUFFIXTRIE", "INDEXEMPTY"}
_ATTRIBUTE_OPTIONS = {"SEPARATOR", "WEIGHT", "PHONETIC"}


def create_args_from_info(index_name: str, info: Any) -> list[str]:
    """An FT.CREATE that rebuilds the index FT.INFO describes (HASH or JSON, prefixes, attributes and flags)."""
    info = _pairs(info)
    definition = _pairs(info.get("index_definition", []))
    args = ["FT.CREATE", index_name, "ON", _text(definition.get("key_type", "HASH"))]
    prefixes = [_text(p) for p in definition.get("prefixes", [])]
    if prefixes:
        args += ["PREFIX", str(len(prefixes)), *prefixes]
    args.append("SCHEMA")
    for raw in info.get("attributes", []):
        items = [_text(item) for item in (raw if not isinstance(raw, dict) else sum(map(list, raw.items()), []))]
        fields = {items[i].lower(): items[i + 1] for i in range(0, len(items) - 1, 2)}
        identifier, alias = fields.get("identifier", ""), fields.get("attribute", "")
        args += [identifier] + (["AS", alias] if alias and alias != identifier else []) + [fields.get("type", "")]
        kind = fields.get("type", "").upper()
        for position, item in enumerate(items[:-1]):
            upper = item.upper()
            # a JSON TAG without a separator reports SEPARATOR "", which FT.CREATE refuses
            if upper in _ATTRIBUTE_OPTIONS and items[position + 1] and (upper != "WEIGHT" or kind == "TEXT"):
                args += [upper, items[position + 1]]
        args += [item.upper() for item in items if item.upper() in _ATTRIBUTE_FLAGS]
    return args


def index_name_of(info: Any) -> str:
    """The real index an FT.INFO reply describes (for an alias: the index it points at)."""
    return _text(_pairs(info).get("index_name", ""))


def indexing_done(info: Any) -> bool:
    """The index's background scan of existing documents is complete."""
    info = _pairs(info)
    return float(_text(info.get("percent_indexed", 0))) >= 1.0 and not int(float(_text(info.get("indexing", 0))))


def ready_to_switch(info: Any) -> tuple[bool, str]:
    """The zero-downtime variant switches the alias once the new index is complete. Documents it failed to index
    (values the migration reported unconvertible) do not hold the switch back: verification names each one, and fails
    on any it cannot explain."""
    pairs = _pairs(info)
    percent = float(_text(pairs.get("percent_indexed", 0)))
    failures = int(float(_text(pairs.get("hash_indexing_failures", 0))))
    indexing = int(float(_text(pairs.get("indexing", 0))))
    return indexing_done(info), f"percent_indexed {percent:g}, hash_indexing_failures {failures}, indexing {indexing}"
