from __future__ import annotations

import datetime
from typing import Annotated, List, Optional, Union  # noqa: UP035

from pydantic import BaseModel

from om_runbook.migrations.codec import FieldKind
from om_runbook.migrations.fields import (
    DatetimeField,
    admits_none,
    datetime_kind,
    hash_datetime_fields,
    json_datetime_fields,
    unwrap_annotation,
)


def test_datetime_kind_unwraps_optional_union_annotated_and_pipe_unions():
    assert datetime_kind(datetime.datetime) is FieldKind.DATETIME
    assert datetime_kind(Optional[datetime.datetime]) is FieldKind.DATETIME  # noqa: UP045
    assert datetime_kind(Union[None, datetime.date]) is FieldKind.DATE  # noqa: UP007
    assert datetime_kind(datetime.date | None) is FieldKind.DATE
    assert datetime_kind(Annotated[Optional[datetime.datetime], "x"]) is FieldKind.DATETIME  # noqa: UP045
    assert datetime_kind(Optional[Annotated[datetime.date, "x"]]) is FieldKind.DATE  # noqa: UP045


def test_non_datetime_and_ambiguous_unions_are_not_fields():
    assert datetime_kind(str) is None
    assert datetime_kind(Union[datetime.datetime, str]) is None  # noqa: UP007
    assert datetime_kind(list[datetime.datetime]) is None
    assert unwrap_annotation(Optional[int]) is int  # noqa: UP045


def test_hash_fields_of_the_sample_models_include_optional_and_annotated():
    from om_runbook.migrations.sample_models import Customer, Order

    assert hash_datetime_fields(Customer) == [
        DatetimeField(("signed_up",), FieldKind.DATETIME),
        DatetimeField(("birthday",), FieldKind.DATE, optional=True),
        DatetimeField(("last_login",), FieldKind.DATETIME, optional=True),
    ]
    assert [(f.name, f.optional) for f in hash_datetime_fields(Order)] == [
        ("placed_at", False),
        ("shipped_on", True),
        ("delivered_at", True),  # Annotated[Optional[datetime], ...]
    ]


def test_which_annotations_admit_none():
    assert admits_none(Optional[datetime.date])  # noqa: UP045
    assert admits_none(Union[None, datetime.datetime])  # noqa: UP007
    assert admits_none(datetime.datetime | None)
    assert admits_none(Annotated[Optional[datetime.datetime], "x"])  # noqa: UP045
    assert admits_none(Optional[Annotated[datetime.datetime, "x"]])  # noqa: UP045
    assert not admits_none(datetime.datetime)
    assert not admits_none(Annotated[datetime.datetime, "x"])
    assert not admits_none(Union[datetime.datetime, str])  # noqa: UP007


class Line(BaseModel):
    sku: str
    shipped: Optional[datetime.date] = None  # noqa: UP045


class Address(BaseModel):
    moved_in: datetime.datetime
    lines: List[Line] = []  # noqa: UP006


class Document(BaseModel):
    created: datetime.datetime
    home: Optional[Address] = None  # noqa: UP045
    history: list[datetime.datetime] = []
    tags: list[str] = []


def test_json_fields_follow_embedded_models_and_lists():
    found = json_datetime_fields(Document)
    assert [(f.json_path, f.kind) for f in found] == [
        ("$.created", FieldKind.DATETIME),
        ("$.home.moved_in", FieldKind.DATETIME),
        ("$.home.lines[*].shipped", FieldKind.DATE),
        ("$.history[*]", FieldKind.DATETIME),
    ]
