"""What a relay in the middle of a TLS connection can read: the hello's versions, and every record in order.

A relay (the course's link) sees each record's 5-byte header in the clear
and, during the handshake, the two hellos. That is enough to show:

- `client_hello_versions`: the three version fields of a ClientHello, and why
  a TLS 1.3 client writes "TLS 1.0" and "TLS 1.2" into the first two
  (RFC 8446, sections 5.1, 4.1.2 and 4.2.1);
- `records_in_order`: both directions of a conversation cut into records and
  put back in the order they crossed the link;
- `tls13_messages`: which message of the TLS 1.3 handshake (RFC 8446,
  section 2, Figure 1) each record holds. After the hellos the relay cannot
  read that; the names come from the order the RFC fixes, and from OpenSSL's
  habit of sending one handshake message per record.

Plain functions of bytes and of the link's record; no socket. (They read
like protocols/ code; they live here, beside the lesson that uses them.)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import ArgumentError, ArgumentTypeError
from ..core.trace import PREVIEW_BYTES
from ..protocols.tls_records import HEADER_SIZE, Record, split_records

__all__ = ["HelloVersions", "Message", "SeenRecord", "TLS13_HANDSHAKE", "VERSION_NAMES", "client_hello_versions",
           "records_in_order", "tls13_messages"]

#: Protocol version numbers as they appear on the wire (RFC 8446, appendix B.1 and section 4.2.1).
VERSION_NAMES = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}

#: The extension that carries the versions a TLS 1.3 client really offers (RFC 8446, section 4.2.1).
SUPPORTED_VERSIONS = 43

#: The full TLS 1.3 handshake of RFC 8446, section 2, Figure 1: who sends each message, its name,
#: the keys it travels under ("clear": none; "handshake": the handshake traffic keys, written {...}
#: in the RFC), and whether only mutual TLS (a server that asks for a client certificate) has it.
TLS13_HANDSHAKE = (
    ("client", "ClientHello", "clear", False),
    ("server", "ServerHello", "clear", False),
    ("server", "EncryptedExtensions", "handshake", False),
    ("server", "CertificateRequest", "handshake", True),
    ("server", "Certificate", "handshake", False),
    ("server", "CertificateVerify", "handshake", False),
    ("server", "Finished", "handshake", False),
    ("client", "Certificate", "handshake", True),
    ("client", "CertificateVerify", "handshake", True),
    ("client", "Finished", "handshake", False),
)

_SENDER = {"to_server": "client", "to_client": "server"}


def version_name(number: int) -> str:
    return VERSION_NAMES.get(number, f"0x{number:04x}")


# -- the hello's versions ----------------------------------------------------------------
@dataclass(frozen=True)
class HelloVersions:
    """The three places a ClientHello names a version, as numbers (0x0303 is TLS 1.2)."""

    record_version: int        # the record header's legacy_record_version (RFC 8446, section 5.1)
    legacy_version: int        # ClientHello.legacy_version (section 4.1.2)
    supported_versions: tuple  # the supported_versions extension (section 4.2.1); () if absent

    def rows(self) -> list[tuple[str, str, str]]:
        """(where, the bytes, what they say) for each field, for a table."""
        offered = ", ".join(version_name(v) for v in self.supported_versions) or "(no such extension)"
        return [
            ("record header, bytes 1-2", f"{self.record_version:04x}", version_name(self.record_version)),
            ("ClientHello.legacy_version, bytes 9-10", f"{self.legacy_version:04x}",
             version_name(self.legacy_version)),
            ("supported_versions extension", " ".join(f"{v:04x}" for v in self.supported_versions) or "-", offered),
        ]


class _Reader:
    """Bounds-checked reads from one ClientHello: running off its end is a sentence, not an IndexError."""

    def __init__(self, data: bytes, at: int):
        self.data, self.at = data, at

    def take(self, size: int, what: str) -> bytes:
        if self.at + size > len(self.data):
            raise ArgumentError(f"The ClientHello ends inside its {what} (byte {self.at} of {len(self.data)}); "
                                f"pass the whole first record the client sent, for example "
                                f"b''.join(hop.data for hop in relay.record if hop.direction == 'to_server').")
        piece = self.data[self.at:self.at + size]
        self.at += size
        return piece

    def number(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "big")

    def vector(self, length_size: int, what: str) -> bytes:
        return self.take(self.number(length_size, f"{what} length"), what)


def client_hello_versions(stream) -> HelloVersions:
    """The versions a client's first record names: the record header's, the hello's, and the extension's.

    stream: what the client sent, from its first byte (at least its whole first record).
    """
    if not isinstance(stream, (bytes, bytearray, memoryview)):
        raise ArgumentTypeError(f"Expected the bytes the client sent, but got {stream!r:.60} (type "
                                f"{type(stream).__name__}); for example "
                                f"b''.join(hop.data for hop in relay.record if hop.direction == 'to_server').")
    data = bytes(stream)
    if len(data) < HEADER_SIZE + 4 or data[0] != 22 or data[HEADER_SIZE] != 1:
        raise ArgumentError(f"These bytes do not start with a ClientHello (a handshake record, type 22, holding "
                            f"a message of type 1); they start {data[:6].hex(' ')!r}. Pass what the client sent, "
                            f"from its first byte.")
    length = int.from_bytes(data[3:5], "big")
    record = data[:HEADER_SIZE + length]
    reader = _Reader(record, HEADER_SIZE + 4)  # after the header and the message's type and 3-byte length
    legacy_version = reader.number(2, "legacy_version")
    reader.take(32, "random")
    reader.vector(1, "legacy_session_id")
    reader.vector(2, "cipher_suites")
    reader.vector(1, "legacy_compression_methods")
    extensions = _Reader(reader.vector(2, "extensions"), 0)
    supported = ()
    while extensions.at < len(extensions.data):
        kind = extensions.number(2, "extension type")
        body = extensions.vector(2, "extension")
        if kind == SUPPORTED_VERSIONS:
            versions = _Reader(body, 0).vector(1, "supported_versions")
            supported = tuple(int.from_bytes(versions[i:i + 2], "big") for i in range(0, len(versions) - 1, 2))
    return HelloVersions(int.from_bytes(data[1:3], "big"), legacy_version, supported)


# -- the records, in the order they crossed ---------------------------------------------
@dataclass(frozen=True)
class SeenRecord:
    """One record as the relay carried it: its direction, the record, and when its first byte crossed."""

    direction: str  # "to_server" or "to_client"
    record: Record
    t: float        # seconds since the link started, of the piece that held the record's first byte

    @property
    def size(self) -> int:
        """Bytes on the wire, header included."""
        return HEADER_SIZE + len(self.record.body)


def records_in_order(hops) -> list[SeenRecord]:
    """Every TLS record a link carried on one connection, both directions, in the order they crossed it.

    hops: the link's record (relay.record) of one TLS connection. The link
    keeps the first PREVIEW_BYTES of each piece, so it must have cut the stream
    into pieces no longer than that (link(..., chunk=256)).
    """
    hops = list(hops)
    if not all(hasattr(hop, attr) for hop in hops for attr in ("direction", "data", "nbytes", "t")):
        raise ArgumentTypeError("Expected the link's record of a TLS connection (relay.record), a list of hops "
                                "with direction, data, nbytes and t.")
    if len({getattr(hop, "conn", 0) for hop in hops}) > 1:
        raise ArgumentError("The record holds more than one connection; pass the hops of one, for example "
                            "[hop for hop in relay.record if hop.conn == 1].")
    seen = []
    for direction in ("to_server", "to_client"):
        pieces = [hop for hop in hops if hop.direction == direction and hop.nbytes]
        for hop in pieces:
            if len(hop.data) < hop.nbytes:
                raise ArgumentError(f"The link kept only {len(hop.data)} of the {hop.nbytes} bytes of a piece, so "
                                    f"the records cannot be cut out; make the link cut the stream into pieces of at "
                                    f"most {PREVIEW_BYTES} bytes: link(..., chunk={PREVIEW_BYTES}).")
        stream = b"".join(hop.data for hop in pieces)
        # Where each piece starts in the stream, so that each record finds the piece of its first byte.
        starts, at = [], 0
        for hop in pieces:
            starts.append(at)
            at += hop.nbytes
        offset, piece = 0, 0
        for record in split_records(stream):
            while piece + 1 < len(pieces) and starts[piece + 1] <= offset:
                piece += 1
            seen.append(SeenRecord(direction, record, pieces[piece].t))
            offset += HEADER_SIZE + len(record.body)
    # sorted() is stable: records of one piece keep their order.
    return sorted(seen, key=lambda item: item.t)


# -- what each record holds ----------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    """A record with what it holds: a handshake message's name, or None once the handshake is over."""

    direction: str
    outer: str         # the record type in its header: what the relay reads
    size: int          # bytes on the wire, header included
    holds: str | None  # "ClientHello", ..., "change_cipher_spec"; None after the handshake
    keys: str          # "clear", "handshake" or "application"


def tls13_messages(seen, *, mutual: bool = False) -> list[Message]:
    """Name what each record of a TLS 1.3 conversation holds, by the order of RFC 8446, section 2.

    seen: records_in_order(relay.record). mutual: the server asked for a client
    certificate (section 6), which adds CertificateRequest, and the client's
    Certificate and CertificateVerify. Assumes one handshake message per record, as
    OpenSSL sends them; change_cipher_spec records are the compatibility ones
    of appendix D.4, in the clear and ignored.
    """
    seen = list(seen)
    if not seen or not all(isinstance(item, SeenRecord) for item in seen):
        raise ArgumentTypeError("Expected the records of a TLS conversation, from tls.records_in_order(relay.record).")
    expected = {side: [(name, keys) for sender, name, keys, only_mutual in TLS13_HANDSHAKE
                       if sender == side and (mutual or not only_mutual)] for side in ("client", "server")}
    first = {}
    messages = []
    for item in seen:
        side = _SENDER[item.direction]
        first.setdefault(side, item)
        if item.record.type == 20:
            messages.append(Message(item.direction, item.record.name, item.size, "change_cipher_spec", "clear"))
            continue
        if expected[side]:
            name, keys = expected[side].pop(0)
            wanted = 22 if keys == "clear" else 23
            if item.record.type != wanted:
                raise ArgumentError(
                    f"The {side}'s record for its {name} is a {item.record.name} record, not "
                    f"{'handshake' if wanted == 22 else 'application_data'}: this does not look like a TLS 1.3 "
                    f"handshake (TLS 1.2 sends its certificate in the clear); pin the client to TLS 1.3, or "
                    f"pass mutual=True if the server asked for a client certificate.")
            messages.append(Message(item.direction, item.record.name, item.size, name, keys))
        else:
            messages.append(Message(item.direction, item.record.name, item.size, None, "application"))
    if "client" not in first or first["client"].record.type != 22 or first["client"] is not seen[0]:
        raise ArgumentError("The conversation does not start with the client's hello; pass the link's record "
                            "of one TLS connection from its first byte.")
    return messages
