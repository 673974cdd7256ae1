from __future__ import annotations

import datetime
import sys
import types

import pytest

from om_runbook.migrations.errors import ConfigurationError
from om_runbook.migrations.targets import Storage, discover_targets, models_modules


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


def _package(root, name: str, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


HASH_MODEL = (
    "import datetime\nfrom redis_om import HashModel\n\n\nclass {name}(HashModel):\n    at: datetime.datetime\n"
)


def test_a_package_means_every_module_in_it_namespace_packages_included(tmp_path, monkeypatch):
    _package(tmp_path, "walked_app", {
        "models/a.py": HASH_MODEL.format(name="First"),
        "models/b.py": "from __future__ import annotations\n\n" + HASH_MODEL.format(name="Second"),
        "models/nested/c.py": HASH_MODEL.format(name="Third"),  # a namespace package below a namespace package
        "models/regular/__init__.py": "from walked_app.models.a import First  # re-exported: counted once\n",
        "models/regular/d.py": HASH_MODEL.format(name="Fourth"),
    })  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    found = [t.name for t in discover_targets("walked_app.models")]
    assert found == [
        "walked_app.models.a.First",
        "walked_app.models.b.Second",
        "walked_app.models.nested.c.Third",
        "walked_app.models.regular.d.Fourth",
    ]
    # repeated --models arrive comma-separated; a module named twice, or reached twice, counts once
    assert [t.name for t in discover_targets("walked_app.models.b,walked_app.models.a,walked_app.models.b")] == [
        "walked_app.models.a.First",
        "walked_app.models.b.Second",
    ]


def test_a_module_of_a_package_that_fails_to_import_is_named_with_the_last_line(tmp_path, monkeypatch):
    _package(tmp_path, "broken_app", {
        "models/good.py": HASH_MODEL.format(name="Good"),
        "models/bad.py": "import datetime\nraise RuntimeError('settings missing: DATABASE_URL\\nsecond line')\n",
    })  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigurationError) as raised:
        discover_targets("broken_app.models")
    assert str(raised.value) == (
        "cannot import models module 'broken_app.models.bad': RuntimeError: settings missing: DATABASE_URL"
    )
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_overlapping_prefixes_across_modules_are_refused(tmp_path, monkeypatch):
    overlapping = (
        "import datetime\nfrom redis_om import HashModel\n\n\nclass Short(HashModel):\n    at: datetime.datetime\n\n"
        "    class Meta:\n        model_key_prefix = 'shop'\n"
    )
    longer = overlapping.replace("Short", "Long").replace("'shop'", "'shop:archive'")
    _package(tmp_path, "overlap_app", {"one.py": overlapping, "two.py": longer})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigurationError, match="key prefixes overlap: ':shop:' is a prefix of ':shop:archive:'"):
        discover_targets("overlap_app.one,overlap_app.two")


@pytest.mark.parametrize("value", ["", "app.models,", "app-models", "app..models", " , "])
def test_a_models_value_that_names_no_module_is_refused(value):
    with pytest.raises(ConfigurationError, match="give importable module or package names"):
        models_modules(value)


def test_models_values_keep_their_order_once_each():
    assert models_modules("app.models, app.legacy ,app.models") == ["app.models", "app.legacy"]


def test_a_models_module_that_exits_at_import_is_a_configuration_error(tmp_path, monkeypatch):
    _package(tmp_path, "exiting_app", {"models.py": "import sys\nsys.exit(0)\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigurationError, match=r"'exiting_app.models': the models module exited at import \(sys"):
        discover_targets("exiting_app.models")
