"""TLS to the clinic's server: certificates for a local server, and plain words for libpq's TLS failures.

A chair, station or reviewer names the clinic's certificate authority with ``sslrootcert=`` (in the
URL, or ``PGSSLROOTCERT``) and asks for ``sslmode=verify-full``; libpq does the rest. What it says
when that fails ("SSL error: certificate verify failed") is turned into a line that says it is TLS,
what went wrong and what to change, for the chair's status line and the station's banner. libpq
keeps OpenSSL's reason to itself, so with the connection's URL the certificates are looked at here:
the authority's from its file, the server's as the server presents it.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from psycopg.conninfo import conninfo_to_dict

from monitor.replication.passfile import NO_PASSWORD, password_cause

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
_VERIFY_FAILED = _FAILURES[0][0]

#: PostgreSQL's SSLRequest (length 8, code 80877103): the server answers "S" and the TLS handshake follows.
_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
#: How long looking at the server's certificate may take in all (only after a failed check).
PROBE_TIMEOUT_S = 2.0


def describe_failure(exc: BaseException, url: str | None = None) -> str:
    """One line for a failed connection; a TLS failure is named as such, with libpq's own words after it.

    With the connection's ``url``, a failed certificate check says which certificate is wrong and how,
    when that can be found out (see :func:`verification_cause`).
    """
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if url is not None and any(NO_PASSWORD in line for line in lines):
        cause = password_cause(url)
        if cause is not None:
            return f"no password to send: {cause}"
    for needle, meaning in _FAILURES:
        for line in lines:
            if needle in line:
                # libpq prefixes the address ("connection to server at … failed: "); keep only its reason.
                detail = line.rsplit("failed: ", 1)[-1]
                if needle == _VERIFY_FAILED and url is not None:
                    meaning = verification_cause(url) or meaning
                return f"TLS: {meaning} ({detail})"
    return lines[0]


def _when(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _server_certificate(host: str, port: int) -> x509.Certificate | None:
    """The certificate a PostgreSQL server presents, taken without checking it: only to say what is wrong with it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # nothing is sent over this connection: it closes after the handshake
    deadline = time.monotonic() + PROBE_TIMEOUT_S
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S) as raw:
            # One budget for the whole look (a replicator that is stopping waits for it).
            raw.settimeout(max(0.05, deadline - time.monotonic()))
            raw.sendall(_SSL_REQUEST)
            if raw.recv(1) != b"S":
                return None
            raw.settimeout(max(0.05, deadline - time.monotonic()))
            with context.wrap_socket(raw) as wrapped:
                der = wrapped.getpeercert(binary_form=True)
    except OSError:  # ssl.SSLError included
        return None
    return x509.load_der_x509_certificate(der) if der else None


def _signed_by(certificate: x509.Certificate, authority: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(authority)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _dates_wrong(certificate: x509.Certificate, whose: str, now: datetime.datetime) -> str | None:
    if certificate.not_valid_after_utc < now:
        return f"{whose} expired on {_when(certificate.not_valid_after_utc)}"
    if certificate.not_valid_before_utc > now:
        return f"{whose} is not valid before {_when(certificate.not_valid_before_utc)} (check this computer's clock)"
    return None


def verification_cause(url: str) -> str | None:
    """Why the server's certificate failed the check against ``sslrootcert``, or None when it cannot be told.

    Reads the authority's file named by the URL (or ``PGSSLROOTCERT``, or libpq's default) and the
    certificate the server presents; says whether the server's certificate is signed by another
    authority, has expired or is not valid yet, or whether the authority's certificate has.
    """
    try:
        options = conninfo_to_dict(url)
    except psycopg.ProgrammingError:  # a URL libpq would refuse has its own error
        return None
    host = options.get("hostaddr") or options.get("host") or os.environ.get("PGHOSTADDR") or os.environ.get("PGHOST")
    port = str(options.get("port") or os.environ.get("PGPORT") or "5432")
    root = options.get("sslrootcert") or os.environ.get("PGSSLROOTCERT") or "~/.postgresql/root.crt"
    if not host or "," in str(host) or str(host).startswith("/") or not port.isdigit():
        return None  # several hosts or a Unix socket: which one failed is not known
    authorities_file = Path(str(root)).expanduser()
    try:
        authorities = x509.load_pem_x509_certificates(authorities_file.read_bytes())
    except (OSError, ValueError):
        return None
    now = datetime.datetime.now(datetime.UTC)
    presented = _server_certificate(str(host), int(port))
    if presented is None:
        # The server's side cannot be seen; the authority's file alone can still be wrong.
        wrong = [_dates_wrong(a, f"the authority's certificate in {authorities_file}", now) for a in authorities]
        return wrong[0] if all(wrong) else None
    signers = [a for a in authorities if _signed_by(presented, a)]
    if not signers:
        return (f"the server's certificate is not signed by the authority in {authorities_file} (its signer is "
                f"{presented.issuer.rfc4514_string()}); name that authority's certificate in sslrootcert")
    expired = _dates_wrong(presented, "the server's certificate", now)
    if expired:
        return f"{expired}; the server needs a new one"
    wrong = [_dates_wrong(a, f"the certificate of the authority in {authorities_file} that signed it", now)
             for a in signers]
    return wrong[0] if all(wrong) else None


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


def new_authority(name: str = "Infusion Monitor local server CA", *, days: float = 825) -> Authority:
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
    authority: Authority, hosts: tuple[str, ...] = LOCAL_HOSTS, *, days: float = 825
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
