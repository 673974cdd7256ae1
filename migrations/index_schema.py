"""What a search index (FT.INFO) says about the datetime fields: redis-om 1.x expects NUMERIC (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _pairs(entry: object) -> dict[str, str]:
    """One FT.INFO attribute: RESP2 gives a flat [name, value, ...] list, RESP3 a map."""
    if isinstance(entry, Mapping):
        return {_text(k).lower(): _text(v) for k, v in entry.items() if not isinstance(v, list | dict)}
    items = list(entry) if isinstance(entry, Sequence) else []
    return {_text(items[i]).lower(): _text(items[i + 1]) for i in range(0, len(items) - 1, 2)}


def attribute_types(info: Mapping[object, object]) -> dict[str, str]:
    """Attribute name -> index type (NUMERIC, TAG, TEXT, ...) from an FT.INFO reply."""
    attributes = next((v for k, v in info.items() if _text(k) == "attributes"), None) or []
    found: dict[str, str] = {}
    for entry in attributes:
        pairs = _pairs(entry)
        name = pairs.get("attribute") or pairs.get("identifier", "").removeprefix("$.")
        if name:
            found[name] = pairs.get("type", "?").upper()
    return found


def datetime_index_mismatches(types: Mapping[str, str], fields: Sequence[str]) -> dict[str, str]:
    """Datetime fields indexed as something other than NUMERIC (range queries and sorting fail on them)."""
    return {field: types[field] for field in fields if field in types and types[field] != "NUMERIC"}
