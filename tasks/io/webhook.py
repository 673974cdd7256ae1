"""POST a JSON message to a webhook (Slack's incoming webhooks read its `text` field)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 5.0


def webhook_host(url: str) -> str:
    """What a log line may say of a webhook: its scheme and host (the path of a Slack webhook is its secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}"


def post_text(url: str, text: str, timeout: float = TIMEOUT_SECONDS) -> str | None:
    """Send `{"text": text}`; None when the webhook took it, else why not (without the URL's path)."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "om-runbook"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the user's own URL
            response.read()
    except urllib.error.HTTPError as exc:
        return f"{webhook_host(url)} answered HTTP {exc.code}"
    except ValueError:
        return f"{webhook_host(url)} is not an http(s) URL"
    except (urllib.error.URLError, OSError) as exc:
        return f"{webhook_host(url)} could not be reached: {getattr(exc, 'reason', exc)}"
    return None
