from om_runbook.migrations.redaction import redact_text, redact_url, url_password


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
