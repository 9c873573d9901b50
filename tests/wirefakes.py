"""Hostile servers on 127.0.0.1 and a free port, for the wire-level attack tests.

- :class:`RecordingServer` speaks just enough of the PostgreSQL or MySQL protocol to ask a
  client for its password in clear text (PostgreSQL: no TLS, then
  AuthenticationCleartextPassword; MySQL: an auth switch to ``mysql_clear_password``) and
  records every byte it was sent, so a test can show that no password arrived.
- :class:`StallingServer` accepts TCP connections and then misbehaves: ``silent`` never
  says a word, ``half-open`` reads and never answers nor closes, ``drip`` sends a
  protocol's first bytes one every ``drip_s`` seconds, forever.

Each stops (and closes every accepted socket) on :meth:`close`.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from typing import Literal

Protocol = Literal["postgres", "mysql"]
Behaviour = Literal["silent", "half-open", "drip"]


class _Listener:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._clients: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with self._lock:
                self.accepted += 1
                self._clients.append(conn)
            thread = threading.Thread(target=self._guarded, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _guarded(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        """What the server does with one accepted connection (subclasses say)."""
        conn.close()

    def close(self) -> None:
        self.stopped.set()
        self._acceptor.join()
        with self._lock:
            for conn in self._clients:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.sock.close()

    def __enter__(self) -> _Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


class RecordingServer(_Listener):
    """Asks for the password in clear text and records all it receives."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.received = bytearray()
        super().__init__()

    def _read(self, conn: socket.socket, size: int) -> bytes:
        data = _read_exact(conn, size)
        with self._lock:
            self.received += data
        return data

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        if self.protocol == "postgres":
            self._postgres(conn)
        else:
            self._mysql(conn)
        conn.close()

    def _postgres(self, conn: socket.socket) -> None:
        while True:
            (length,) = struct.unpack("!i", self._read(conn, 4))
            body = self._read(conn, length - 4)
            code = struct.unpack("!i", body[:4])[0]
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: "no"
                conn.sendall(b"N")
                continue
            break
        conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind = self._read(conn, 1)
        (length,) = struct.unpack("!i", self._read(conn, 4))
        self._read(conn, length - 4)
        del kind
        error = b"SFATAL\0C28P01\0Mpassword authentication failed\0\0"
        conn.sendall(b"E" + struct.pack("!i", len(error) + 4) + error)

    def _packet(self, conn: socket.socket) -> bytes:
        header = self._read(conn, 4)
        length = header[0] | header[1] << 8 | header[2] << 16
        return self._read(conn, length)

    @staticmethod
    def _send(conn: socket.socket, sequence: int, payload: bytes) -> None:
        conn.sendall(struct.pack("<I", len(payload))[:3] + bytes([sequence]) + payload)

    def _mysql(self, conn: socket.socket) -> None:
        # PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD | CONNECT_WITH_DB
        caps = 0x200 | 0x8000 | 0x80000 | 0x1 | 0x8
        scramble = b"abcdefghijklmnopqrst"
        handshake = (
            b"\x0a5.7.0-fake\0"
            + struct.pack("<I", 1)
            + scramble[:8]
            + b"\0"
            + struct.pack("<H", caps & 0xFFFF)
            + b"\x21"
            + struct.pack("<H", 2)
            + struct.pack("<H", caps >> 16)
            + bytes([21])
            + b"\0" * 10
            + scramble[8:]
            + b"\0"
            + b"mysql_native_password\0"
        )
        self._send(conn, 0, handshake)
        self._packet(conn)  # the handshake response (a scrambled password)
        self._send(conn, 2, b"\xfemysql_clear_password\0" + scramble + b"\0")
        self._packet(conn)  # the password, in clear text, if the client sends it
        error = b"\xff" + struct.pack("<H", 1045) + b"#28000Access denied"
        self._send(conn, 4, error)


#: The first bytes a server of each protocol sends (or answers to a first message).
_GREETING = {
    "postgres": b"R\x00\x00\x00\x08\x00\x00\x00\x03",
    "mysql": b"J\x00\x00\x00\x0a5.7.0-slow\x00" + b"\x00" * 64,
    "http": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
    + b"1" * 1000,
}


class StallingServer(_Listener):
    """Accepts and stalls: ``silent``, ``half-open`` (reads, never answers) or ``drip``
    (the protocol's greeting one byte every ``drip_s`` seconds)."""

    def __init__(
        self, behaviour: Behaviour, protocol: str = "postgres", *, drip_s: float = 1.0
    ) -> None:
        self.behaviour = behaviour
        self.protocol = protocol
        self.drip_s = drip_s
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        if self.behaviour == "silent":
            self.stopped.wait()
        elif self.behaviour == "half-open":
            conn.settimeout(0.2)
            while not self.stopped.is_set():
                try:
                    if not conn.recv(65536):
                        self.stopped.wait()
                except TimeoutError:
                    continue
        else:
            greeting = _GREETING[self.protocol]
            while not self.stopped.is_set():
                for index in range(len(greeting)):
                    if self.stopped.wait(self.drip_s):
                        return
                    conn.sendall(greeting[index : index + 1])
                time.sleep(0)


class MutePostgres(_Listener):
    """A PostgreSQL server that accepts the login (no password asked) and then never
    answers a query; cancel requests are read and ignored. ``queries`` counts the messages
    it swallowed."""

    def __init__(self) -> None:
        self.queries = 0
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(None)
        while True:
            (length,) = struct.unpack("!i", _read_exact(conn, 4))
            code = struct.unpack("!i", _read_exact(conn, length - 4)[:4])[0]
            if code in (80877103, 80877104):
                conn.sendall(b"N")
                continue
            if code == 80877102:  # CancelRequest: ignored
                conn.close()
                return
            break
        reply = b"R" + struct.pack("!ii", 8, 0)  # AuthenticationOk
        for key, value in (
            (b"server_version", b"15.0"),
            (b"server_encoding", b"UTF8"),
            (b"client_encoding", b"UTF8"),
            (b"integer_datetimes", b"on"),
            (b"standard_conforming_strings", b"on"),
            (b"DateStyle", b"ISO, MDY"),
        ):
            body = key + b"\0" + value + b"\0"
            reply += b"S" + struct.pack("!i", len(body) + 4) + body
        reply += b"K" + struct.pack("!iii", 12, 4242, 4242)
        reply += b"Z" + struct.pack("!i", 5) + b"I"
        conn.sendall(reply)
        while not self.stopped.is_set():
            data = conn.recv(65536)
            if not data:
                self.stopped.wait()
                return
            self.queries += 1


class DrippingProxy(_Listener):
    """A TCP proxy to a real server on 127.0.0.1:``port`` that passes everything through,
    except on a connection whose request held ``marker``: from then on the server's bytes
    go back one every ``drip_s`` seconds (a response that trickles forever, within one
    HTTP response)."""

    def __init__(self, port: int, marker: bytes, *, drip_s: float = 1.0) -> None:
        self.target = port
        self.marker = marker
        self.drip_s = drip_s
        self.dripped = 0
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target))
        seen = threading.Event()

        def client_to_server() -> None:
            with contextlib.suppress(OSError):
                while data := conn.recv(65536):
                    if self.marker in data:
                        seen.set()
                    upstream.sendall(data)
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)

        forward = threading.Thread(target=client_to_server, daemon=True)
        forward.start()
        try:
            while data := upstream.recv(65536):
                if not seen.is_set():
                    conn.sendall(data)
                    continue
                for index in range(len(data)):
                    if self.stopped.wait(self.drip_s):
                        return
                    conn.sendall(data[index : index + 1])
                    self.dripped += 1
        finally:
            upstream.close()
