"""Checking an uploaded bundle of PEM CA certificates before querydeck stores it.

Accepted: text of at most :data:`MAX_PEM_BYTES` bytes holding 1 to :data:`MAX_CERTIFICATES`
``CERTIFICATE`` blocks, each a CA (basic constraints ``CA:TRUE``) or self-signed, each valid
now. Refused: any private key (the key is neither stored nor echoed), any other PEM block
(CRLs, parameters, ``TRUSTED CERTIFICATE``), binary (DER) data, expired or not-yet-valid
certificates. What is stored is the certificates re-encoded from their parsed form, so text
around the blocks never reaches the disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from querydeck.errors import (
    CertificateExpired,
    CertificateInvalid,
    CertificatePrivateKey,
    CertificateTooLarge,
)

if TYPE_CHECKING:  # X.509 parsing (tens of ms of imports) loads with the first certificate
    from cryptography import x509

MAX_PEM_BYTES = 64 * 1024
MAX_CERTIFICATES = 32
_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,64})-----")


@dataclass(frozen=True)
class ParsedCertificate:
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str
    is_ca: bool


@dataclass(frozen=True)
class ParsedBundle:
    pem: bytes
    certificates: tuple[ParsedCertificate, ...]


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER encoding, as colon-separated upper-case hex."""
    from cryptography.hazmat.primitives import hashes

    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _is_ca(cert: x509.Certificate) -> bool:
    from cryptography import x509

    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca


def describe(cert: x509.Certificate) -> ParsedCertificate:
    return ParsedCertificate(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=fingerprint(cert),
        is_ca=_is_ca(cert),
    )


def load_bundle(pem: bytes) -> list[x509.Certificate]:
    """The certificates of a stored (already checked) bundle."""
    from cryptography import x509

    return x509.load_pem_x509_certificates(pem)


def parse(data: bytes, *, now: datetime | None = None) -> ParsedBundle:
    """Check an upload; raises a ``CertificateInvalid`` subclass or ``CertificateTooLarge``.
    Messages name what is wrong, never the uploaded text."""
    if len(data) > MAX_PEM_BYTES:
        raise CertificateTooLarge(
            f"A certificate upload has at most {MAX_PEM_BYTES} bytes; this one has {len(data)}.",
            detail={"limit": MAX_PEM_BYTES, "size": len(data)},
        )
    labels = [m.group(1).decode() for m in _BEGIN.finditer(data)]
    if any("PRIVATE KEY" in label for label in labels):
        raise CertificatePrivateKey(
            "The upload contains a private key. querydeck takes CA certificates only: "
            "nothing of this upload was stored. Upload the CA certificate(s) alone, and "
            "treat the key as exposed if it was shared by mistake.",
        )
    others = sorted({label for label in labels if label != "CERTIFICATE"})
    if others:
        raise CertificateInvalid(
            "Only CERTIFICATE blocks are accepted; the upload also has: " + ", ".join(others) + ".",
            detail={"blocks": others},
        )
    if not labels:
        raise CertificateInvalid(
            "The upload holds no PEM certificate (-----BEGIN CERTIFICATE-----); DER and "
            "other formats are not accepted."
        )
    if len(labels) > MAX_CERTIFICATES:
        raise CertificateInvalid(
            f"A bundle holds at most {MAX_CERTIFICATES} certificates; this one has {len(labels)}.",
            detail={"limit": MAX_CERTIFICATES, "count": len(labels)},
        )
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateInvalid("A certificate of the upload cannot be parsed.") from None
    if len(certs) != len(labels):
        raise CertificateInvalid("A certificate block of the upload cannot be parsed.")
    return ParsedBundle(
        pem=b"".join(c.public_bytes(Encoding.PEM) for c in certs),
        certificates=tuple(_check(c, i, now or datetime.now(UTC)) for i, c in enumerate(certs)),
    )


def _check(cert: x509.Certificate, index: int, now: datetime) -> ParsedCertificate:
    info = describe(cert)
    where = {"index": index, "subject": info.subject}
    if not info.is_ca and cert.subject != cert.issuer:
        raise CertificateInvalid(
            f"Certificate {index + 1} ({info.subject}) is not a CA certificate (no "
            "CA:TRUE basic constraint) and is not self-signed, so it cannot anchor "
            "verification; upload the CA that issued it.",
            detail=where,
        )
    if info.not_after < now:
        raise CertificateExpired(
            f"Certificate {index + 1} ({info.subject}) expired at {info.not_after.isoformat()}.",
            detail={**where, "not_after": info.not_after.isoformat()},
        )
    if info.not_before > now:
        raise CertificateExpired(
            f"Certificate {index + 1} ({info.subject}) is not valid before "
            f"{info.not_before.isoformat()}.",
            detail={**where, "not_before": info.not_before.isoformat()},
        )
    return info
