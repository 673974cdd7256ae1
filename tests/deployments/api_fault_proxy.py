"""A real TCP proxy in front of a real Prefect server that answers 503 "database is locked", as a busy SQLite-backed
server does, to the first `failures` requests matching a rule; everything else (HTTP requests and the websockets of
events and logs) passes through untouched."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from contextlib import suppress

from om_runbook.tasks.io.local_redis import free_port

Rule = Callable[[str, str, bytes], bool]  # method, path, body -> answer 503
BUSY = json.dumps({"exception_message": "Service Unavailable"}).encode()


def creates_a_subflow(method: str, path: str, body: bytes) -> bool:
    """POST /api/flow_runs/ for a flow run with a parent task run: a subflow's creation."""
    if method != "POST" or not path.rstrip("/").endswith("/api/flow_runs"):
        return False
    with suppress(ValueError):
        return json.loads(body or b"{}").get("parent_task_run_id") is not None
    return False


class ApiFaultProxy:
    def __init__(self, upstream_port: int, rule: Rule, failures: int) -> None:
        self.upstream_port, self.rule, self.failures = upstream_port, rule, failures
        self.port = free_port()
        self.refused: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path = head.split(b" ", 2)[:2]
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)
                }
                if headers.get(b"upgrade", b"").lower() == b"websocket":
                    await self._tunnel(head, reader, writer)
                    return
                body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
                if self.failures > 0 and self.rule(method.decode(), path.decode(), body):
                    self.failures -= 1
                    self.refused.append(f"{method.decode()} {path.decode()}")
                    writer.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                                 b"content-length: %d\r\n\r\n%s" % (len(BUSY), BUSY))  # fmt: skip
                    await writer.drain()
                    continue
                await self._forward(head, body, writer)
                return  # the answer said "connection: close"; the client opens a new connection
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _forward(self, head: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
        lines = [line for line in head.split(b"\r\n") if line and not line.lower().startswith(b"connection:")]
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        upstream_writer.write(b"\r\n".join([*lines, b"connection: close"]) + b"\r\n\r\n" + body)
        await upstream_writer.drain()
        while chunk := await upstream_reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        upstream_writer.close()

    async def _tunnel(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        upstream_writer.write(head)

        async def pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
            with suppress(ConnectionError):
                while chunk := await source.read(65536):
                    target.write(chunk)
                    await target.drain()
            target.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
