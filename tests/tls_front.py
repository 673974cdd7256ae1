"""A TLS-terminating front for a redis-server built without TLS (the PyPI Redis 8.2 build): it accepts `rediss://`
connections with a test certificate and relays each one, byte for byte, to the server's plain port, as the TLS
proxies in front of many managed Redis services do."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path


def _relay(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(1 << 16):
            target.sendall(data)
    for end in (source, target):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)


def _connection(raw: socket.socket, context: ssl.SSLContext, backend_port: int) -> None:
    try:
        client = context.wrap_socket(raw, server_side=True)
    except (OSError, ssl.SSLError):
        raw.close()  # a plain-text client, or one that gave up: as a TLS server answers it
        return
    backend = socket.create_connection(("127.0.0.1", backend_port))
    threading.Thread(target=_relay, args=(backend, client), daemon=True).start()
    _relay(client, backend)


def _serve(listener: socket.socket, context: ssl.SSLContext, backend_port: int) -> None:
    while True:
        try:
            raw, _address = listener.accept()
        except OSError:  # the listener closed
            return
        threading.Thread(target=_connection, args=(raw, context, backend_port), daemon=True).start()


@contextlib.contextmanager
def tls_front(backend_port: int, certificate: Path, key: Path) -> Iterator[int]:
    """A TLS port relaying to `backend_port` while the block runs; yields the TLS port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=_serve, args=(listener, context, backend_port), daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        listener.close()
        thread.join(5)
