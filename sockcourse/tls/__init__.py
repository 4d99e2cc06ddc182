"""Layer 3, TLS and QUIC: a throw-away certificate authority, contexts, certificate checks.

Importing this package imports trustme and cryptography; `sockcourse.tls.quic`
(aioquic) is imported only when used.
"""

from .ca import (CHECKS, CLIENT_EMAIL, CLIENT_NAME, ORGANIZATION, RECORD_TYPES, S_CLIENT_TIMEOUT,
                 SERVER_NAMES, Certificate, CertificateAuthority, CertificateError, Record,
                 RecordingSSLSocket, SClientResult, check_certificate, client_context,
                 handshake_failure, openssl_s_client, server_context, server_side_context,
                 split_records)
