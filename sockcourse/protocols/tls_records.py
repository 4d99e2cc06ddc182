"""TLS records as a relay sees them: the 5-byte header in the clear, the body (after the handshake) not.

Every TLS connection, in each direction, is a sequence of records (RFC 8446,
section 5.1): one byte of content type, two of legacy version, two of
length, then that many bytes. A relay in the middle, such as the course's
link, can cut what it carried into records and read their types, and
nothing more once the handshake is done: that is the lesson of chapter 05.
Pure functions of bytes; no socket.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import ArgumentError, ArgumentTypeError

__all__ = ["HEADER_SIZE", "RECORD_TYPES", "Record", "split_records"]

#: The record types of TLS (RFC 8446, section 5.1; RFC 5246, section 6.2.1).
RECORD_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}

#: Bytes of a record's header: type (1), legacy version (2), length (2).
HEADER_SIZE = 5


@dataclass(frozen=True)
class Record:
    """One TLS record: the 5-byte header is in the clear, the body (after the handshake) is not."""

    type: int
    version: int
    body: bytes

    @property
    def name(self) -> str:
        return RECORD_TYPES.get(self.type, f"type {self.type}")


def split_records(stream: bytes) -> list[Record]:
    """Cut one direction of a TLS connection, as bytes, into its records (a cut-off last one is left out)."""
    if not isinstance(stream, (bytes, bytearray, memoryview)):
        raise ArgumentTypeError(f"Expected the bytes of one direction of a TLS connection, but got {stream!r:.60} "
                                f"(type {type(stream).__name__}); for example "
                                f"b''.join(hop.data for hop in relay.record if hop.direction == 'to_server').")
    stream = bytes(stream)
    records, at = [], 0
    while at + HEADER_SIZE <= len(stream):
        kind = stream[at]
        version = int.from_bytes(stream[at + 1:at + 3], "big")
        length = int.from_bytes(stream[at + 3:at + 5], "big")
        if kind not in RECORD_TYPES:
            raise ArgumentError(f"The bytes at offset {at} do not start a TLS record (type {kind}); pass one "
                                f"direction of a TLS connection from its first byte.")
        if at + HEADER_SIZE + length > len(stream):
            break
        records.append(Record(kind, version, stream[at + HEADER_SIZE:at + HEADER_SIZE + length]))
        at += HEADER_SIZE + length
    return records
