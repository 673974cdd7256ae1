"""A redis-om 1.x JsonModel with datetimes at every depth, for the JSON document tests (Redis 8.2 with modules)."""

from __future__ import annotations

import datetime
from typing import List, Optional  # noqa: UP035 - the spellings users write

from redis_om import EmbeddedJsonModel, Field, JsonModel


class Line(EmbeddedJsonModel):
    sku: str
    shipped_on: Optional[datetime.date] = None  # noqa: UP045


class Address(EmbeddedJsonModel):
    city: str
    moved_in: datetime.datetime


class Account(JsonModel, index=True):
    name: str = Field(index=True)
    created_at: datetime.datetime = Field(index=True, sortable=True)
    closed_at: Optional[datetime.datetime] = Field(index=True, default=None)  # noqa: UP045
    birthday: datetime.date
    logins: List[datetime.datetime] = []  # noqa: UP006
    address: Address
    lines: List[Line] = []  # noqa: UP006
