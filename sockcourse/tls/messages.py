"""Every message of one real TLS handshake, by name, as the client's own TLS library wrote and read it.

A relay in the middle reads only record headers, and in TLS 1.3 every record
after the ServerHello says `application_data` on the outside, whatever it
holds (RFC 8446, section 5.2). The client itself decrypts those records, so
its TLS library knows what is inside. `record_handshake` asks it:

- it runs one handshake on loopback between the course's own server and
  client contexts (`CertificateAuthority.server_context()` and
  `.client_context()`), the server pinned to one version; then the client
  sends a short request and reads the echo, so that what the server sends
  after the handshake (TLS 1.3 session tickets) arrives too;
- it lists every record the client wrote or read, in that order, with the
  messages inside: who sent it, its name (ClientHello, ..., Finished,
  NewSessionTicket, application data), the record type its header showed,
  its size on the wire, whether it travelled encrypted, and whether it came
  after `wrap_socket` returned (after the handshake).

How it listens: CPython's `ssl.SSLContext._msg_callback`. The leading
underscore says it is private: undocumented, free to change, and other
Pythons need not have it. CPython's own tests use it (Lib/test/test_ssl.py),
and Lib/ssl.py describes its arguments in a docstring. OpenSSL calls it
(SSL_CTX_set_msg_callback(3)) for each record header, for the inner content
type of each TLS 1.3 encrypted record, and for each handshake,
change_cipher_spec and alert message, already decrypted; application data
gets no message call of its own. (OpenSSL 3.0 reports a change_cipher_spec
record it reads by its header only.) Where the hook is missing,
`record_handshake` raises `HookUnavailable`, whose message says so in a
sentence.

What "encrypted" means here is what the callback shows: a TLS 1.3 record is
encrypted exactly when OpenSSL reports an inner content type for it (the
type hidden inside, RFC 8446, section 5.2); a TLS 1.2 record is encrypted
once its sender has sent change_cipher_spec (RFC 5246, section 7.1), and in
TLS 1.3 that record is a leftover for middleboxes that changes nothing
(RFC 8446, appendix D.4).
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

from ..core.errors import ArgumentError, ArgumentTypeError, CourseBugError, UsageError
from ..protocols.tls_records import HEADER_SIZE, RECORD_TYPES
from ..servers import handlers
from ..servers.threaded import serve
from .ca import CertificateAuthority

__all__ = ["HANDSHAKE_TYPES", "HookUnavailable", "TLSMessage", "hook_missing", "record_handshake"]

#: Handshake message types by number (RFC 8446, section 4 and appendix B.3; RFC 5246, section 7.4).
HANDSHAKE_TYPES = {
    0: "HelloRequest", 1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket", 5: "EndOfEarlyData",
    8: "EncryptedExtensions", 11: "Certificate", 12: "ServerKeyExchange", 13: "CertificateRequest",
    14: "ServerHelloDone", 15: "CertificateVerify", 16: "ClientKeyExchange", 20: "Finished", 24: "KeyUpdate",
}

#: The two versions a handshake can be pinned to here.
VERSIONS = {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}

# The pseudo content types CPython's callback uses for a record header and for the inner
# content type of a TLS 1.3 record (Lib/ssl.py, _TLSContentType.HEADER and INNER_CONTENT_TYPE).
_HEADER, _INNER = 0x100, 0x101
_CHANGE_CIPHER_SPEC, _ALERT, _HANDSHAKE, _APPLICATION_DATA = 20, 21, 22, 23

#: How long the one connection may take, in seconds, at each wait.
TIMEOUT = 5.0


class HookUnavailable(UsageError):
    """This Python's ssl module has no SSLContext._msg_callback, so the messages cannot be listed here."""


@dataclass(frozen=True)
class TLSMessage:
    """One message of a TLS conversation, as the client's TLS library wrote or read it."""

    sender: str            # "client" or "server"
    name: str              # "ClientHello", ..., "change_cipher_spec", "application data", "alert close_notify"
    kind: str              # its content type, the real one: "handshake", "change_cipher_spec", "alert", ...
    outer: str             # the content type the record's header shows: what a relay reads
    encrypted: bool        # only the two ends can read it
    record: int            # which record holds it, counted from 0 in the order the client saw them
    record_size: int       # that record's bytes on the wire, its 5-byte header included
    after_handshake: bool  # written or read after wrap_socket() returned

    @property
    def direction(self) -> str:
        return "to_server" if self.sender == "client" else "to_client"


def hook_missing(context_class=ssl.SSLContext) -> str | None:
    """Why the messages cannot be recorded with this context class, or None when its hook is there."""
    if isinstance(getattr(context_class, "_msg_callback", None), property):
        return None
    return (f"This Python's {context_class.__module__}.{context_class.__qualname__} has no _msg_callback, the "
            f"private hook of CPython's ssl module that names each TLS message, so the handshake cannot be "
            f"listed message by message here; run this with CPython, for example on Binder.")


class _Recorder:
    """What the callback saw: one entry per record, with the messages inside it, in the order they came."""

    def __init__(self):
        self.records: list[dict] = []
        self.after_handshake = False

    def __call__(self, conn, direction, version, content_type, msg_type, data):
        # Keep this small and unable to fail: an exception here is only raised later, from
        # whatever ssl call happens to be running (the docstring of SSLContext._msg_callback).
        sender = "client" if direction == "write" else "server"
        content_type = int(content_type)
        if content_type == _HEADER:
            size = HEADER_SIZE + int.from_bytes(data[3:5], "big")
            self.records.append({"sender": sender, "outer": data[0], "size": size, "inner": None, "messages": [],
                                 "after": self.after_handshake})
            return
        record = next((r for r in reversed(self.records) if r["sender"] == sender), None)
        if record is None:
            return
        if content_type == _INNER:
            # CPython maps this byte through its handshake enum; the byte itself is the content type.
            record["inner"] = data[0] if data else None
        else:
            record["messages"].append((content_type, bytes(data)))


def _message_name(content_type: int, data: bytes) -> str:
    if content_type == _HANDSHAKE and data:
        return HANDSHAKE_TYPES.get(data[0], f"handshake message {data[0]}")
    if content_type == _ALERT and len(data) >= 2:
        try:
            return "alert " + ssl.AlertDescription(data[1]).name.removeprefix("ALERT_DESCRIPTION_").lower()
        except ValueError:
            return f"alert {data[1]}"
    if content_type == _CHANGE_CIPHER_SPEC:
        return "change_cipher_spec"
    if content_type == _APPLICATION_DATA:
        return "application data"
    return RECORD_TYPES.get(content_type, f"content type {content_type}")


def _messages(records: list[dict], version: str) -> list[TLSMessage]:
    messages, switched = [], set()
    for number, record in enumerate(records):
        sender = record["sender"]
        if version == "TLSv1.3":
            encrypted = record["inner"] is not None
        else:
            encrypted = sender in switched
        if record["outer"] == _CHANGE_CIPHER_SPEC:
            switched.add(sender)  # TLS 1.2: this sender's next records are protected
        kind = record["inner"] if record["inner"] is not None else record["outer"]
        # A record with no message call is application data, or (when OpenSSL reads one) a
        # change_cipher_spec record, whose header is reported but not its one byte.
        inside = record["messages"] or [(kind, b"")]
        for content_type, data in inside:
            messages.append(TLSMessage(
                sender=sender, name=_message_name(content_type, data),
                kind=RECORD_TYPES.get(content_type, f"type {content_type}"),
                outer=RECORD_TYPES.get(record["outer"], f"type {record['outer']}"), encrypted=encrypted,
                record=number, record_size=record["size"], after_handshake=record["after"]))
    return messages


def record_handshake(ca: CertificateAuthority, *, version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
                     request: bytes = b"hello") -> list[TLSMessage]:
    """Run one TLS handshake on loopback and list every message the client wrote or read, in order.

    ca: the CertificateAuthority whose server certificate the server presents
    and which the client trusts. version: ssl.TLSVersion.TLSv1_3 (the default)
    or TLSv1_2, for both ends. request: the bytes the client sends once the
    handshake is done; the server echoes them.
    """
    if not isinstance(ca, CertificateAuthority):
        raise ArgumentTypeError(f"Expected the course's CertificateAuthority, but got {ca!r} (type "
                                f"{type(ca).__name__}); for example record_handshake(tls.CertificateAuthority()).")
    if version not in VERSIONS:
        raise ArgumentError(f"The version must be ssl.TLSVersion.TLSv1_3 or ssl.TLSVersion.TLSv1_2, but got "
                            f"{version!r}; the course's contexts, like Python's defaults, accept nothing older than TLS 1.2.")
    if not isinstance(request, (bytes, bytearray)) or not 1 <= len(request) <= 1024:
        raise ArgumentError(f"The request must be 1 to 1024 bytes, but got {request!r:.60}; for example "
                            f"request=b'hello'.")
    why = hook_missing()
    if why:
        raise HookUnavailable(why)
    server_context, client_context = ca.server_context(), ca.client_context()
    # The server takes this version only; the client keeps its usual offer (TLS 1.2 and 1.3)
    # up to it, so that its ClientHello is the one the chapter's clients send.
    server_context.minimum_version = server_context.maximum_version = version
    client_context.maximum_version = version
    recorder = _Recorder()
    client_context._msg_callback = recorder  # private hook: see the module's docstring
    expected = bytes(request)
    with serve(handlers.echo, tls=server_context) as server:
        with socket.create_connection(server.address, timeout=TIMEOUT) as raw:
            with client_context.wrap_socket(raw, server_hostname="localhost") as client:
                recorder.after_handshake = True
                agreed = client.version()
                client.sendall(expected)
                echoed = b""
                for _ in range(len(expected)):  # at most one recv per byte: bounded
                    piece = client.recv(len(expected) - len(echoed))
                    if not piece:
                        break
                    echoed += piece
                    if len(echoed) == len(expected):
                        break
    if echoed != expected:
        raise CourseBugError(f"The course's echo server answered {echoed!r:.60} instead of {expected!r:.60}, so "
                             f"the record of this conversation is incomplete; this should never happen, please "
                             f"report it with this message.")
    return _messages(recorder.records, agreed)
