from __future__ import annotations

import datetime
import sys
import types

import pytest

from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.targets import Storage, discover_targets


def test_sample_models_are_discovered_with_redis_om_key_prefixes():
    targets = discover_targets("om_runbook.migrations.sample_models")
    assert [(t.class_name, t.storage, t.key_prefix) for t in targets] == [
        ("Customer", Storage.HASH, ":om_runbook.migrations.sample_models.Customer:"),
        ("Order", Storage.HASH, ":om_runbook.migrations.sample_models.Order:"),
    ]


def test_a_module_that_does_not_import_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="cannot import models module 'no_such_models_module'"):
        discover_targets("no_such_models_module")


def test_models_without_datetime_fields_leave_nothing_to_migrate(monkeypatch):
    from redis_om import HashModel

    module = types.ModuleType("plain_models")

    class Plain(HashModel, index=True):
        name: str

    module.Plain = Plain
    monkeypatch.setitem(sys.modules, "plain_models", module)
    with pytest.raises(ConfigurationError, match="no redis-om HashModel/JsonModel with datetime"):
        discover_targets("plain_models")


def test_non_indexed_and_async_models_are_found(monkeypatch):
    from aredis_om import JsonModel as AsyncJsonModel
    from redis_om import HashModel

    module = types.ModuleType("mixed_models")

    class Hidden(HashModel):  # not index=True: invisible to redis-om's registry
        at: datetime.datetime

    class AsyncDoc(AsyncJsonModel, index=True):
        at: datetime.date

    Hidden.__module__ = AsyncDoc.__module__ = "mixed_models"
    module.Hidden, module.AsyncDoc = Hidden, AsyncDoc
    monkeypatch.setitem(sys.modules, "mixed_models", module)
    found = {t.class_name: t.storage for t in discover_targets("mixed_models")}
    assert found == {"Hidden": Storage.HASH, "AsyncDoc": Storage.JSON}
