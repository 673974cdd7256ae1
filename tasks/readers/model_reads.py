"""Reads through the application's own redis-om 1.x models, on the run's connection: a sync model (redis_om) gets
a sync client, an async model (aredis_om) an asyncio client and its calls awaited, in an event loop of the check.

A model's `Meta.database` (from the application's settings) may name another server, or none that is up: for the
time of the check the model and every model embedded in it read through the run's Redis instead."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from om_runbook.migrations.fields import embedded_models
from om_runbook.tasks.io.redis_connection import open_async_client, open_client

T = TypeVar("T")

SAMPLE_CONNECTION_NOTE = "sample read through the run's connection"


def is_async_model(model: type) -> bool:
    import aredis_om

    return issubclass(model, aredis_om.RedisModel)


async def resolved(value: Any) -> Any:
    """A sync model's answer as it is, an async model's awaited."""
    return await value if inspect.isawaitable(value) else value


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run to completion from sync code (a thread of its own when this thread already runs an event loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


@asynccontextmanager
async def models_reading_from(model: type, url: str, cluster: bool = False) -> AsyncIterator[None]:
    """The model and its embedded models use a connection to `url` (of the model's kind) while inside; an embedded
    JsonModel checks its own connection for RedisJSON when it is built, so it is rebound too."""
    asynchronous = is_async_model(model)
    if asynchronous:
        connection: Any = open_async_client(url, cluster=cluster)
    else:
        connection = open_client(url, decode_responses=True, cluster=cluster, ping=False)
    classes = [model, *(m for m in embedded_models(model) if hasattr(m, "_meta"))]
    previous = [m._meta.database for m in classes]
    for each in classes:
        each._meta.database = connection
    try:
        yield
    finally:
        for each, database in zip(classes, previous, strict=True):
            each._meta.database = database
        if asynchronous:
            await connection.aclose()
        else:
            connection.close()
