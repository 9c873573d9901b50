"""Throwaway certificate authorities and TLS listeners that speak just enough of the
PostgreSQL and MySQL protocols to reach, and finish, the TLS handshake.

After a successful handshake the listener answers the client's first message (sent over
TLS) with a protocol error carrying :data:`PROBE_TEXT`, so a client error naming it proves
the client completed the handshake and read from the encrypted session.
"""

from __future__ import annotations

import socket
import ssl
import struct
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PROBE_TEXT = "querydeck tls probe"
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str = "querydeck test CA", *, days: int = 30, ago: int = 1) -> Issued:
    """A self-signed CA valid from ``ago`` days back for ``days`` days."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=ago))
        .not_valid_after(now - timedelta(days=ago) + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def make_server(ca: Issued, dns_names: list[str], common_name: str = "server") -> Issued:
    """A server (leaf, CA:FALSE) certificate for ``dns_names`` issued by ``ca``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(cert, key)


def _recv_exact(sock: socket.socket | ssl.SSLSocket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client closed")
        data += chunk
    return data


class TlsListener:
    """A one-thread listener on 127.0.0.1 and a free port. ``handshakes`` records "ok" or
    the server-side error of each TLS handshake; ``messages`` counts client messages read
    after one (a client that rejects the certificate after the handshake sends none)."""

    def __init__(self, server: Issued, protocol: str) -> None:
        self.protocol = protocol
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as tmp:
            cert_file, key_file = Path(tmp, "c.pem"), Path(tmp, "k.pem")
            cert_file.write_bytes(server.pem)
            key_file.write_bytes(server.key_pem)
            self.context.load_cert_chain(cert_file, key_file)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.handshakes: list[str] = []
        #: Client messages read over TLS (a startup or login message: credentials).
        self.messages = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(5)
            try:
                self._talk(conn)
            except (OSError, ConnectionError, struct.error):
                pass
            finally:
                conn.close()

    def _handshake(self, conn: socket.socket) -> ssl.SSLSocket | None:
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.handshakes.append(str(exc))
            return None
        self.handshakes.append("ok")
        return tls

    def _talk(self, conn: socket.socket) -> None:
        if self.protocol == "postgres":
            self._postgres(conn)
        else:
            self._mysql(conn)

    def _postgres(self, conn: socket.socket) -> None:
        while True:
            length, code = struct.unpack("!II", _recv_exact(conn, 8))
            if length == 8 and code == _GSSENC_REQUEST:
                conn.sendall(b"N")
                continue
            if length != 8 or code != _SSL_REQUEST:
                return  # a plain-text startup: never answered
            conn.sendall(b"S")
            break
        tls = self._handshake(conn)
        if tls is None:
            return
        (length,) = struct.unpack("!I", _recv_exact(tls, 4))
        _recv_exact(tls, length - 4)  # the StartupMessage, over TLS
        self.messages += 1
        fields = b"SFATAL\0VFATAL\0C08006\0M" + PROBE_TEXT.encode() + b"\0\0"
        tls.sendall(b"E" + struct.pack("!I", len(fields) + 4) + fields)
        tls.close()

    def _mysql(self, conn: socket.socket) -> None:
        capabilities = (
            0x0000_0200 | 0x0000_8000 | 0x0008_0000 | 0x0000_0800
        )  # 4.1, secure, plugin, SSL
        payload = (
            b"\x0a"
            + b"10.11.0-fake\0"
            + struct.pack("<I", 7)
            + b"abcdefgh\0"
            + struct.pack("<H", capabilities & 0xFFFF)
            + b"\x2d"
            + struct.pack("<H", 2)
            + struct.pack("<H", capabilities >> 16)
            + b"\x15"
            + b"\0" * 10
            + b"ijklmnopqrst\0"
            + b"mysql_native_password\0"
        )
        conn.sendall(struct.pack("<I", len(payload))[:3] + b"\x00" + payload)
        header = _recv_exact(conn, 4)
        _recv_exact(conn, int.from_bytes(header[:3], "little"))  # SSL request
        tls = self._handshake(conn)
        if tls is None:
            return
        header = _recv_exact(tls, 4)
        _recv_exact(tls, int.from_bytes(header[:3], "little"))  # handshake response
        self.messages += 1
        error = b"\xff" + struct.pack("<H", 1040) + b"#08004" + PROBE_TEXT.encode()
        tls.sendall(struct.pack("<I", len(error))[:3] + bytes([header[3] + 1]) + error)
        tls.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()
