from migrations.redaction import redact_text, redact_url


def test_passwords_are_replaced_and_users_kept():
    assert redact_url("redis://:s3cret@host:6380/1") == "redis://:***@host:6380/1"
    assert redact_url("rediss://app:p%40ss@db.example:6379") == "rediss://app:***@db.example:6379"
    assert redact_url("redis://host:6379") == "redis://host:6379"


def test_urls_inside_text_and_named_secrets_are_redacted():
    text = "failed on redis://u:hunter2@10.0.0.1:6379/0 with hunter2"
    assert redact_text(text, ("hunter2",)) == "failed on redis://u:***@10.0.0.1:6379/0 with ***"
