"""TLS to the clinic's server: certificates for a local server, and plain words for libpq's TLS failures.

A chair, station or reviewer names the clinic's certificate authority with ``sslrootcert=`` (in the
URL, or ``PGSSLROOTCERT``) and asks for ``sslmode=verify-full``; libpq does the rest. What it says
when that fails ("SSL error: certificate verify failed") is turned into a line that says it is TLS,
what went wrong and what to change, for the chair's status line and the station's banner.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Names a local server's certificate is valid for (it listens on the loopback address only).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")

# libpq's words for a TLS failure, and what they mean for the person reading the status line.
_FAILURES = (
    # OpenSSL's reason stays inside libpq, which says only "certificate verify failed": every cause is named.
    ("certificate verify failed",
     "the server's certificate could not be verified with the authority named in sslrootcert: it is not signed "
     "by that authority, or it or the authority's certificate has expired or is not yet valid (compare their "
     "dates with this computer's clock)"),
    ("does not match host name",
     "the server's certificate is not made out for the host name in the URL (sslmode=verify-full checks it)"),
    ("root certificate file",
     "the authority's certificate named by sslrootcert (or PGSSLROOTCERT) cannot be read"),
    ("server does not support SSL",
     "the server does not offer TLS, and this connection requires it (sslmode)"),
    ("no encryption",
     "the server accepts this login only over TLS: add sslmode=verify-full&sslrootcert=<the clinic's CA> to the URL"),
    ("SSL error", "the encrypted connection could not be set up"),
    ("SSL SYSCALL error", "the encrypted connection was cut"),
)


def describe_failure(exc: BaseException) -> str:
    """One line for a failed connection; a TLS failure is named as such, with libpq's own words after it."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for needle, meaning in _FAILURES:
        for line in lines:
            if needle in line:
                # libpq prefixes the address ("connection to server at … failed: "); keep only its reason.
                detail = line.rsplit("failed: ", 1)[-1]
                return f"TLS: {meaning} ({detail})"
    return lines[0]


@dataclass(frozen=True, slots=True)
class Authority:
    """A certificate authority made here (for a local server or a test): its certificate and key, in PEM."""

    certificate_pem: bytes
    key_pem: bytes


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """A server's certificate and private key, in PEM, signed by an :class:`Authority`."""

    certificate_pem: bytes
    key_pem: bytes


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def new_authority(name: str = "Infusion Monitor local server CA", *, days: int = 825) -> Authority:
    """A new self-signed certificate authority (P-256 key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue_server_certificate(
    authority: Authority, hosts: tuple[str, ...] = LOCAL_HOSTS, *, days: int = 825
) -> ServerCertificate:
    """A server certificate for ``hosts`` (names and IP addresses) signed by ``authority``."""
    ca_cert = x509.load_pem_x509_certificate(authority.certificate_pem)
    ca_key = serialization.load_pem_private_key(authority.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the authority's key is not an elliptic-curve key")
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ServerCertificate(certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key))
