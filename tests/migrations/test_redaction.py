from urllib.parse import quote

import pytest

from om_runbook.migrations.redaction import (
    password_needs_encoding,
    redact_text,
    redact_url,
    url_password,
    url_secrets,
)


def test_passwords_are_replaced_and_users_kept():
    assert redact_url("redis://:s3cret@host:6380/1") == "redis://:***@host:6380/1"
    assert redact_url("rediss://app:p%40ss@db.example:6379") == "rediss://app:***@db.example:6379"
    assert redact_url("redis://host:6379") == "redis://host:6379"


def test_urls_inside_text_and_named_secrets_are_redacted():
    text = "failed on redis://u:hunter2@10.0.0.1:6379/0 with hunter2"
    assert redact_text(text, ("hunter2",)) == "failed on redis://u:***@10.0.0.1:6379/0 with ***"


def test_a_password_in_the_query_string_is_redacted_too():
    url = "rediss://app@db.example:6380/0?password=p%40ss&ssl_ca_certs=/etc/ca.pem"
    assert redact_url(url) == "rediss://app@db.example:6380/0?password=***&ssl_ca_certs=/etc/ca.pem"
    assert url_password(url) == "p@ss"
    assert redact_text(f"error talking to {url}: refused", (url_password(url),)) == (
        "error talking to rediss://app@db.example:6380/0?password=***&ssl_ca_certs=/etc/ca.pem: refused"
    )
    plain = "redis://db.example:6379/0?ssl_cert_reqs=none"
    assert redact_url(plain) == plain and url_password(plain) == ""


RESERVED = [":", "/", "?", "#", "[", "]", "@", "!", "$", "&", "'", "(", ")", "*", "+", ",", ";", "=", "%", " "]


@pytest.mark.parametrize("mark", RESERVED)
@pytest.mark.parametrize("encoded", [False, True], ids=["raw", "percent-encoded"])
def test_no_reserved_character_in_a_password_lets_any_of_it_through(mark, encoded):
    password = f"LEFT{quote(mark, safe='') if encoded else mark}RIGHT"
    for url in (
        f"redis://:{password}@db.internal:6380/0",
        f"rediss://app:{password}@db.internal:6380/2?ssl_cert_reqs=none",
        f"redis://db.internal:6380/0?password={password}",
        f"redis://db.internal:6380/0?ssl=1&password={password}&db=3",
    ):
        for shown in (redact_url(url), redact_text(f"invalid Redis URL {url}: bad", url_secrets(url))):
            assert "LEFT" not in shown and "RIGHT" not in shown, (url, shown)


def test_an_unparseable_user_part_is_replaced_whole_and_the_host_stays():
    assert redact_url("redis://:LEFT/RIGHT@db.internal:6380/0") == "redis://:***@db.internal:6380/0"
    assert redact_url("redis://LE/FT:RIGHT@db.internal:6380/0") == "redis://***@db.internal:6380/0"
    assert redact_url("redis://app:LE#FT@db.internal:6380/0") == "redis://app:***@db.internal:6380/0"
    assert "LEFT/RIGHT" in url_secrets("redis://:LEFT/RIGHT@db.internal:6380/0")


def test_a_password_that_needs_percent_encoding_is_recognised():
    assert password_needs_encoding("redis://:LEFT/RIGHT@db:6379/0")
    assert password_needs_encoding("redis://app:a@b@db:6379/0")
    assert not password_needs_encoding("redis://app:LEFT%2FRIGHT@db:6379/0")
    assert not password_needs_encoding("redis://db:6379/0?password=a/b")
