"""What the migration does to one JSON document (a JsonModel record): find every datetime/date value at the model's
paths, at any depth (embedded models, lists of them, `List[datetime]`), and list the changes (pure).

A change is (concrete JSONPath, original JSON text, target JSON text): `$.history[1]`, `"2023-12-01T14:30:22Z"`,
`1701441022.0`. The target is what redis-om 1.2 writes: a JSON float. `null` stays `null`. The backup line's digest
slot holds `json:<sha1 of the document text>:<digest of everything but the changed values>`: the compare-and-set
script writes only while the document's sha1 is unchanged, and verification compares the rest of the document.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import tzinfo
from typing import Any

from om_runbook.migrations.backup_format import FieldChange, Problem
from om_runbook.migrations.codec import FieldKind, ValueClass, classify_value, describe_raw, encode_timestamp
from om_runbook.migrations.fields import LIST_ITEMS, DatetimeField
from om_runbook.migrations.key_plan import KeyPlan

JSON_DIGEST_PREFIX = "json:"
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
_MISSING = object()


def is_json_digest(digest: str) -> bool:
    return digest.startswith(JSON_DIGEST_PREFIX)


def document_sha1(raw: bytes) -> str:
    return hashlib.sha1(raw).hexdigest()  # noqa: S324 - the Lua side has only redis.sha1hex; not security


def json_digest(raw: bytes, document: Any, paths: list[str]) -> str:
    return f"{JSON_DIGEST_PREFIX}{document_sha1(raw)}:{others_digest(document, paths)}"


def split_digest(digest: str) -> tuple[str, str]:
    """(sha1 of the whole document, digest of everything but the changed values)."""
    sha1, _, others = digest[len(JSON_DIGEST_PREFIX) :].partition(":")
    return sha1, others


def parse_path(path: str) -> list[str | int]:
    """`$.a.b[2].c` -> ['a', 'b', 2, 'c'] (the concrete paths this module writes)."""
    if not path.startswith("$"):
        raise ValueError(f"not a JSONPath: {path!r}")
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise ValueError(f"unsupported JSONPath step in {path!r}")
        steps.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    return steps


def model_path(concrete: str) -> str:
    """`$.lines[2].shipped` -> `$.lines[*].shipped`: the model path (DatetimeField.json_path) a concrete path is of."""
    return re.sub(r"\[\d+\]", "[*]", concrete)


def json_path_of(location: tuple[Any, ...]) -> str:
    """A pydantic error location (`('lines', 0, 'shipped')`) as a concrete path (`$.lines[0].shipped`)."""
    return "$" + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in location)


def model_value_at(record: Any, path: str) -> Any:
    """The value a loaded model (pydantic object) holds at a concrete path."""
    node = record
    for step in parse_path(path):
        node = node[step] if isinstance(step, int) else getattr(node, step)
    return node


def value_at(document: Any, path: str) -> Any:
    """The value at a concrete path, or `_MISSING` (see `is_missing`) when a step is absent."""
    node = document
    for step in parse_path(path):
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return _MISSING
        elif not isinstance(node, dict) or step not in node:
            return _MISSING
        node = node[step]
    return node


def is_missing(value: Any) -> bool:
    return value is _MISSING


def others_digest(document: Any, paths: list[str]) -> str:
    """Digest of the document with the values at `paths` blanked: equal before and after a correct migration."""
    copy = json.loads(json.dumps(document))
    for path in paths:
        steps = parse_path(path)
        node = copy
        for step in steps[:-1]:
            node = node[step]
        node[steps[-1]] = None
    text = json.dumps(copy, separators=(",", ":"), sort_keys=False, ensure_ascii=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def concrete_values(document: Any, field: DatetimeField) -> list[tuple[str, Any]]:
    """Every (concrete path, value) a model path reaches in a document; a `[*]` step expands over the list."""
    found: list[tuple[str, Any]] = []

    def walk(node: Any, steps: tuple[str, ...], path: str) -> None:
        if not steps:
            found.append((path, node))
            return
        step, rest = steps[0], steps[1:]
        if step == LIST_ITEMS:
            if isinstance(node, list):
                for index, item in enumerate(node):
                    walk(item, rest, f"{path}[{index}]")
            return
        if isinstance(node, dict) and step in node:
            walk(node[step], rest, f"{path}.{step}")
        elif not rest:
            found.append((f"{path}.{step}", _MISSING))

    walk(document, field.path, "$")
    return found


def _classify(value: Any, kind: FieldKind, zone: tzinfo) -> tuple[ValueClass, float | None, str | None]:
    if value is None or value is _MISSING:
        return ValueClass.MISSING, None, None
    if isinstance(value, bool):
        return ValueClass.UNPARSEABLE, None, "a JSON boolean, not a date or datetime"
    if isinstance(value, int | float):
        result = classify_value(repr(float(value)).encode(), kind, zone)
        return result.value_class, None, result.reason
    if not isinstance(value, str):
        return ValueClass.UNPARSEABLE, None, f"a JSON {type(value).__name__}, not a date or datetime"
    if value == "":
        return ValueClass.EMPTY, None, None
    result = classify_value(value.encode("utf-8"), kind, zone)
    return result.value_class, result.timestamp, result.reason


def plan_document(key: bytes, raw: bytes, fields: tuple[DatetimeField, ...], zone: tzinfo) -> KeyPlan:
    """Classify every datetime value of one JSON document and list the changes with their targets."""
    document = json.loads(raw)
    changes: list[FieldChange] = []
    classes: list[tuple[str, ValueClass]] = []
    problems: list[Problem] = []
    for field in fields:
        for path, value in concrete_values(document, field):
            value_class, timestamp, reason = _classify(value, field.kind, zone)
            classes.append((field.name, value_class))
            if timestamp is not None:
                original = json.dumps(value, ensure_ascii=False).encode("utf-8")
                changes.append(FieldChange(path.encode(), original, encode_timestamp(timestamp)))
            elif value_class in (ValueClass.UNPARSEABLE, ValueClass.EMPTY):
                shown = json.dumps(value, ensure_ascii=False)
                problems.append(
                    Problem(
                        kind="unparseable" if value_class is ValueClass.UNPARSEABLE else "empty",
                        key=describe_raw(key),
                        field=path,
                        value=describe_raw(shown.encode("utf-8")),
                        message=f"{reason or 'empty string'}; left unchanged",
                    )
                )
    return KeyPlan(tuple(changes), tuple(classes), tuple(problems))


def document_digest(raw: bytes, changes: tuple[FieldChange, ...]) -> str:
    """The backup line's digest slot for a JSON document (see the module docstring)."""
    return json_digest(raw, json.loads(raw), [change.field.decode() for change in changes])


def field_state(document: Any, change: FieldChange, expect: str) -> str:
    """A changed value read back: as_expected, not_applied (still the other side), missing, or changed_by_others.
    Targets compare as numbers (RedisJSON may print a float its own way), originals as JSON values."""
    value = value_at(document, change.field.decode())
    if is_missing(value):
        return "missing"
    original = json.loads(change.original)
    target = float(change.target) if change.target is not None else None
    holds_target = isinstance(value, int | float) and not isinstance(value, bool) and float(value) == target
    holds_original = value == original and type(value) is type(original)
    if expect == "target":
        return "as_expected" if holds_target else "not_applied" if holds_original else "changed_by_others"
    return "as_expected" if holds_original else "not_applied" if holds_target else "changed_by_others"


def _pattern_values(document: Any, pattern: str) -> list[Any]:
    """Values a schema path such as `$.a.b` or `$.items[*].at` reaches (absent steps reach nothing)."""
    nodes = [document]
    for part in pattern.removeprefix("$").split(".")[1:]:
        name, wildcard = (part[:-3], True) if part.endswith("[*]") else (part, False)
        nodes = [node[name] for node in nodes if isinstance(node, dict) and name in node]
        if wildcard:
            nodes = [item for node in nodes if isinstance(node, list) for item in node]
    return nodes


def numeric_view(raw: bytes, patterns: tuple[bytes, ...]) -> dict[bytes, bytes]:
    """A JSON document seen as a hash by its NUMERIC index paths: each path maps to the first value a NUMERIC index
    refuses (as JSON text), else to its number; `null` and absent values are left out, as the index skips them."""
    document = json.loads(raw)
    view: dict[bytes, bytes] = {}
    for pattern in patterns:
        values = [value for value in _pattern_values(document, pattern.decode()) if value is not None]
        refused = [v for v in values if isinstance(v, bool) or not isinstance(v, int | float)]
        if refused:
            view[pattern] = json.dumps(refused[0], ensure_ascii=False).encode("utf-8")
        elif values:
            view[pattern] = repr(float(values[0])).encode()
    return view
