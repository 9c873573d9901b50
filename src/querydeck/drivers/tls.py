"""TLS pieces server drivers share: the uploaded-CA option and its sslmode rules, and an
SSL context that checks the host name the user gave while the socket goes to a pinned IP.

A connection names an uploaded CA bundle with ``ssl_ca_certificate: <certificate id>``;
the client library gets the stored file's path (libpq ``sslrootcert``, an ``ssl`` context's
CA file). Client options naming files directly stay refused.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from querydeck.drivers.base import CA_CERTIFICATE_OPTION, Sandbox
from querydeck.errors import CertificateUnknown, ConnectionOptionsInvalid

#: sslmodes that may fall back to plain text or skip TLS: meaningless with a CA.
_WEAK_MODES = frozenset({"disable", "allow", "prefer"})
#: Texts of OpenSSL/libpq failures to verify the server's certificate.
_UNTRUSTED = (
    "certificate verify failed",
    "CERTIFICATE_VERIFY_FAILED",
    "does not match host name",
    "server certificate for",
)


def ca_sslmode(data: Any, engine: str) -> Any:
    """Option values with ``sslmode`` defaulting to ``verify-full`` when a CA certificate is
    named; a mode that could skip verification alongside one is refused."""
    if not isinstance(data, dict) or data.get(CA_CERTIFICATE_OPTION) is None:
        return data
    mode = data.get("sslmode")
    if mode is None:
        return {**data, "sslmode": "verify-full"}
    if mode in _WEAK_MODES:
        raise ConnectionOptionsInvalid(
            f"The {engine} option ssl_ca_certificate needs sslmode verify-full (the default "
            f"with a certificate), verify-ca or require; {mode!r} could skip verification.",
            detail={"problems": [{"option": "sslmode", "problem": "too weak for a CA"}]},
        )
    return data


def ca_file(sandbox: Sandbox, certificate_id: str | None) -> str | None:
    """The stored PEM file of the connection's CA, or None when it names none."""
    if certificate_id is None:
        return None
    if sandbox.certificates is None:
        raise CertificateUnknown(
            "Uploaded certificates are only available inside a querydeck installation.",
            detail={"option": CA_CERTIFICATE_OPTION},
        )
    return sandbox.certificates.path(certificate_id)


def is_untrusted(text: str) -> bool:
    """Whether a client library's error text says the server's certificate did not verify."""
    return any(marker in text for marker in _UNTRUSTED)


class NamedContext(ssl.SSLContext):
    """An SSL context that checks the server certificate against ``server_name`` whatever
    host the client library passes (PyMySQL passes the pinned IP address it connected to)."""

    server_name: str | None = None

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        return super().wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=self.server_name if self.check_hostname else server_hostname,
            session=session,
        )


def client_context(mode: str, cafile: str | None, host: str) -> ssl.SSLContext:
    """A client context for ``require`` (encrypt; verify the chain only when a CA is
    given, as libpq does), ``verify-ca`` or ``verify-full`` (chain and ``host``)."""
    context = NamedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafile is not None:
        context.load_verify_locations(cafile=cafile)
    else:
        context.load_default_certs()
    context.server_name = host
    context.check_hostname = mode == "verify-full"
    context.verify_mode = (
        ssl.CERT_NONE if mode == "require" and cafile is None else ssl.CERT_REQUIRED
    )
    return context
