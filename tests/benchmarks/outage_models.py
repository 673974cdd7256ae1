"""The redis-om 1.x model of the query-outage benchmark: sessions whose datetimes are indexed (NUMERIC in 1.x)."""

from __future__ import annotations

import datetime
from typing import Optional

from redis_om import Field, HashModel


class Session(HashModel, index=True):
    user: str = Field(index=True)
    started_at: datetime.datetime = Field(index=True, sortable=True)
    ended_at: Optional[datetime.datetime] = Field(index=True, default=None)  # noqa: UP045
