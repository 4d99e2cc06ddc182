"""Layer 3, TLS and QUIC: a throw-away certificate authority, contexts, certificate checks.

- `ca`: `CertificateAuthority` and the `Certificate`s it issues (trustme);
- `contexts`: `server_context`, `client_context`, and `server_side_context`
  (what `serve(tls=...)` accepts);
- `checks`: `check_certificate`, the client's three questions (`CHECKS`) by hand;
- `wire`: what a relay can read: a ClientHello's versions, every record in the
  order it crossed, and which TLS 1.3 handshake message each one holds;
- `messages`: one handshake listed message by message from inside the client
  (`record_handshake`, through a private hook of CPython's ssl module);
- `chain`: what a client reads from a certificate chain (`chain_facts`);
- `quic`: QUIC with aioquic, imported only when used (`sockcourse.quic`).

The names a notebook reaches as `sockcourse.tls.X` are all here, including
three that live elsewhere now: TLS records are protocol data
(`protocols.tls_records`), `openssl_s_client` runs an outside program
(`peers.outside`), and `RecordingSSLSocket` belongs to the servers
(`servers.recording`). Importing this package imports trustme and cryptography.
"""

from ..core.errors import CertificateError
from ..peers.outside import S_CLIENT_TIMEOUT, SClientResult, openssl_s_client
from ..protocols.tls_records import RECORD_TYPES, Record, split_records
from ..servers.recording import RecordingSSLSocket, handshake_failure
from .ca import CLIENT_EMAIL, CLIENT_NAME, ORGANIZATION, SERVER_NAMES, Certificate, CertificateAuthority
from .chain import CertificateFacts, TrustChain, certificate_facts, chain_facts
from .checks import CHECKS, check_certificate
from .messages import HookUnavailable, TLSMessage, hook_missing, record_handshake
from .contexts import client_context, server_context, server_side_context
from .wire import (TLS13_HANDSHAKE, VERSION_NAMES, HelloVersions, Message, SeenRecord, client_hello_versions,
                   records_in_order, tls13_messages)

__all__ = [
    "CHECKS", "CLIENT_EMAIL", "CLIENT_NAME", "ORGANIZATION", "RECORD_TYPES", "S_CLIENT_TIMEOUT", "SERVER_NAMES",
    "TLS13_HANDSHAKE", "VERSION_NAMES",
    "Certificate", "CertificateAuthority", "CertificateError", "CertificateFacts", "HelloVersions",
    "HookUnavailable", "Message", "Record", "TLSMessage", "TrustChain", "certificate_facts", "chain_facts",
    "hook_missing", "record_handshake",
    "RecordingSSLSocket", "SClientResult", "SeenRecord",
    "check_certificate", "client_context", "client_hello_versions", "handshake_failure", "openssl_s_client",
    "records_in_order", "server_context", "server_side_context", "split_records", "tls13_messages",
]
