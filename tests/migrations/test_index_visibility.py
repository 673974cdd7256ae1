from __future__ import annotations

from om_runbook.migrations.index_visibility import (
    IndexTally,
    IndexVerdict,
    holds_number,
    invisibility_reason,
    numeric_fields,
)


def test_numeric_fields_are_read_from_redis_om_schemas_for_hashes_and_json():
    hash_schema = "ON HASH PREFIX 1 :app.Visit: SCHEMA pk TAG SEPARATOR | page TAG SEPARATOR | at NUMERIC SORTABLE"
    assert numeric_fields(hash_schema) == ("at",)
    json_schema = "ON JSON PREFIX 1 :app.Doc: SCHEMA $.pk AS pk TAG $.at AS at NUMERIC $.n AS n NUMERIC SORTABLE"
    assert numeric_fields(json_schema) == ("$.at", "$.n")
    assert numeric_fields("ON HASH PREFIX 1 p: SCHEMA pk TAG") == ()
    assert numeric_fields("garbage") == ()


def test_what_a_numeric_index_accepts():
    for value in (b"1701441022.0", b"-14182939.999999", b"0", b"1e3", b"inf", b"-inf", b".5"):
        assert holds_number(value), value
    for value in (b"", b"2023-12-01T14:30:22", b"12abc", b"\xff", b"1.2.3"):
        assert not holds_number(value), value


def test_a_document_is_invisible_when_any_numeric_field_holds_a_non_number():
    numeric = (b"started_at", b"ended_at")
    assert invisibility_reason({b"started_at": b"1.0"}, numeric) is None  # an absent field is fine
    assert invisibility_reason({b"started_at": b"1.0", b"ended_at": b""}, numeric) == ("ended_at", "empty string")
    field, why = invisibility_reason({b"started_at": b"next tuesday"}, numeric)
    assert field == "started_at" and "is not a number" in why


def test_the_tally_names_each_invisible_document_and_the_verdict_fails_only_an_unexplained_shortfall():
    tally = IndexTally("idx", (b"at",))
    tally.add(b"k:1", {b"at": b"1.0"}, limit=10)
    tally.add(b"k:2", {b"at": b"not a date"}, limit=10)
    tally.add(b"k:3", {b"at": b""}, limit=1)
    assert (tally.documents, tally.invisible) == (3, 2)
    assert [p.message for p in tally.examples] == [
        "invisible to queries of idx: k:2 (at: 'not a date' is not a number)"
    ]
    explained = IndexVerdict("idx", documents=3, invisible=2, visible=1)
    assert explained.unexplained_shortfall == 0 and "1 of 3 documents visible" in explained.line()
    short = IndexVerdict("idx", documents=3, invisible=1, visible=1)
    assert short.unexplained_shortfall == 1 and "1 MISSING WITHOUT A REASON" in short.line()
    more = IndexVerdict("idx", documents=3, invisible=0, visible=4)
    assert more.unexplained_shortfall == 0 and "written meanwhile" in more.line()
