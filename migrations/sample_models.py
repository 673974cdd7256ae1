"""The sample redis-om 1.x models that `om-runbook seed` and `rehearse` use (also a template for users).

Keys use redis-om's default prefixes, e.g. `:om_runbook.migrations.sample_models.Customer:<pk>`.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Optional, Union

from redis_om import Field, HashModel


class Customer(HashModel, index=True):
    name: str
    email: str
    signed_up: datetime.datetime
    birthday: Optional[datetime.date] = None  # noqa: UP045 - the spelling redis-om's own migration misses
    last_login: Union[datetime.datetime, None] = None  # noqa: UP007


class Order(HashModel, index=True):
    customer_pk: str
    total: float
    placed_at: Annotated[datetime.datetime, Field(index=True, sortable=True)]
    shipped_on: Optional[datetime.date] = None  # noqa: UP045
    delivered_at: Annotated[Optional[datetime.datetime], "set by the courier"] = None  # noqa: UP045
