"""Tests of sockcourse.protocols.modbus: Modbus/TCP frames, byte for byte, from the spec's own examples.

The expected bytes are written out by hand. Each PDU is a worked example of
the Modbus Application Protocol 1.1b3 (section 6.1 read coils, 6.3 read
holding registers, 6.6 write single register, section 7 an exception
response); the MBAP header in front of it follows the Modbus Messaging on
TCP/IP Implementation Guide 1.0b, 3.1.3 (transaction, protocol 0, length =
unit identifier + PDU, unit). Pure: no socket, runs in well under a second.
"""

from __future__ import annotations

import itertools
import struct

import pytest

from sockcourse.core.errors import ArgumentError, ArgumentTypeError, CourseBugError, PeerFault
from sockcourse.protocols import modbus


def mbap(transaction: int, unit: int, pdu_hex: str) -> bytes:
    """The MBAP header written out by hand (big-endian, 3.1.3) in front of a PDU given in hex."""
    pdu = bytes.fromhex(pdu_hex)
    length = 1 + len(pdu)
    return bytes([transaction >> 8, transaction & 0xFF, 0, 0, length >> 8, length & 0xFF, unit]) + pdu


# The spec's worked examples, PDU by PDU (Application Protocol 1.1b3).
READ_COILS_REQUEST = "01 00 13 00 13"            # 6.1: read discrete outputs 20-38 (address 0x13, 19 coils)
READ_COILS_RESPONSE = "01 03 CD 6B 05"           # 6.1: outputs 27-20 = CD, 35-28 = 6B, 38-36 = 05
READ_REGISTERS_REQUEST = "03 00 6B 00 03"        # 6.3: read registers 108-110 (address 0x6B, 3 registers)
READ_REGISTERS_RESPONSE = "03 06 02 2B 00 00 00 64"  # 6.3: 555, 0, 100
WRITE_REGISTER = "06 00 01 00 03"                # 6.6: write register 2 (address 1) to 00 03; the answer echoes it
EXCEPTION_REQUEST = "01 04 A1 00 01"             # 7: read output 1185 (0x04A1), one of them
EXCEPTION_RESPONSE = "81 02"                     # 7: 0x01 + 0x80, illegal data address

# The status of outputs 20 to 38 as section 6.1 spells it: CD is 1100 1101, with
# output 20 in the lowest bit, so outputs 20..27 read 1 0 1 1 0 0 1 1.
COILS_20_TO_38 = tuple(bool(int(bit)) for bit in "10110011" "11010110" "101")


# -- the spec's examples, byte for byte ---------------------------------------------------
def test_read_coils_request_and_response_are_the_spec_example_of_6_1():
    frame = modbus.read_coils(0x0001, 0x11, start=0x13, count=19)
    assert frame == mbap(0x0001, 0x11, READ_COILS_REQUEST)
    assert frame.hex(" ") == "00 01 00 00 00 06 11 01 00 13 00 13"
    answer = modbus.response(0x01, 0x0001, 0x11, coils=COILS_20_TO_38)
    assert answer == mbap(0x0001, 0x11, READ_COILS_RESPONSE)
    parsed = modbus.parse_response(answer, frame)
    assert parsed.ok and parsed.function == 0x01 and parsed.values == COILS_20_TO_38
    assert parsed.fields["byte_count"] == 3


def test_read_holding_registers_request_and_response_are_the_spec_example_of_6_3():
    frame = modbus.read_holding_registers(7, 1, start=0x6B, count=3)
    assert frame == mbap(7, 1, READ_REGISTERS_REQUEST)
    assert frame.hex(" ") == "00 07 00 00 00 06 01 03 00 6b 00 03"
    answer = mbap(7, 1, READ_REGISTERS_RESPONSE)
    assert modbus.response(0x03, 7, 1, registers=[555, 0, 100]) == answer
    parsed = modbus.parse_response(answer, frame)
    assert (parsed.transaction, parsed.unit, parsed.function, parsed.values) == (7, 1, 3, (555, 0, 100))
    assert parsed.exception is None and parsed.exception_text is None


def test_write_single_register_is_the_spec_example_of_6_6_and_its_echo():
    frame = modbus.write_single_register(0x1234, 0xFF, address=1, value=3)
    assert frame == mbap(0x1234, 0xFF, WRITE_REGISTER)
    assert frame[:2] == b"\x12\x34" and frame[6] == 0xFF  # big-endian transaction, then the unit
    answer = modbus.response(0x06, 0x1234, 0xFF, address=1, value=3)
    assert answer == frame  # the normal response is an echo of the request (6.6)
    parsed = modbus.parse_response(answer, frame)
    assert parsed.values == (3,) and parsed.fields == {"function": 6, "address": 1, "value": 3}


def test_the_exception_response_of_section_7_decodes_to_words():
    frame = modbus.read_coils(3, 1, start=0x04A1, count=1)
    assert frame == mbap(3, 1, EXCEPTION_REQUEST)
    answer = mbap(3, 1, EXCEPTION_RESPONSE)
    assert modbus.response(0x01, 3, 1, exception=2) == answer
    parsed = modbus.parse_response(answer, frame)
    assert not parsed.ok
    assert (parsed.function, parsed.exception, parsed.exception_text) == (0x01, 2, "illegal data address")
    assert parsed.fields == {"function": 0x81, "exception": 2} and parsed.values == ()


@pytest.mark.parametrize("code, text", sorted(modbus.EXCEPTIONS.items()))
def test_every_exception_code_of_section_7_has_its_name(code, text):
    parsed = modbus.parse_response(mbap(1, 1, f"83 {code:02X}"))
    assert (parsed.exception, parsed.exception_text) == (code, text)


def test_an_exception_code_the_spec_does_not_define_says_so():
    assert "does not define" in modbus.parse_response(mbap(1, 1, "83 07")).exception_text
    assert "does not define" in modbus.exception_text(0x20)


def test_the_request_builder_takes_the_table_names():
    assert modbus.request(0x03, 7, 1, start=0x6B, count=3) == mbap(7, 1, READ_REGISTERS_REQUEST)
    assert modbus.request(0x06, 1, 1, address=1, value=3) == mbap(1, 1, WRITE_REGISTER)
    assert modbus.adu(1, 1, bytes.fromhex(READ_COILS_REQUEST)) == mbap(1, 1, READ_COILS_REQUEST)


# -- the tables -------------------------------------------------------------------------------
def test_the_mbap_table_is_the_guide_header_and_its_struct():
    assert [(f.name, f.offset, f.size) for f in modbus.MBAP_FIELDS] == [
        ("transaction", 0, 2), ("protocol", 2, 2), ("length", 4, 2), ("unit", 6, 1)]
    assert modbus.MBAP_SIZE == 7 and modbus.MAX_ADU == 260 and modbus.MAX_LENGTH == 254
    assert modbus._STRUCTS[id(modbus.MBAP_FIELDS)].format == ">HHHB"
    assert modbus._STRUCTS[id(modbus.REQUESTS[0x03])].format == ">BHH"


def test_decode_cuts_a_frame_along_the_tables_and_its_pieces_join_back():
    for frame in (mbap(7, 1, READ_REGISTERS_REQUEST), mbap(7, 1, READ_REGISTERS_RESPONSE),
                  mbap(3, 1, EXCEPTION_RESPONSE), mbap(1, 1, WRITE_REGISTER)):
        parts = modbus.decode(frame)
        assert b"".join(part.raw for part in parts) == frame
        assert [part.field.name for part in parts][:4] == ["transaction", "protocol", "length", "unit"]
    names = [part.field.name for part in modbus.decode(mbap(7, 1, READ_REGISTERS_RESPONSE))]
    assert names[4:] == ["function", "byte_count", "registers"]
    coils = modbus.decode(mbap(1, 1, READ_COILS_RESPONSE), kind="response")
    assert coils[-1].value[:19] == COILS_20_TO_38
    assert modbus.decode(mbap(1, 1, READ_COILS_RESPONSE))[-1].field.name == "count"  # 5 bytes: read as a request


def test_a_table_that_does_not_add_up_is_refused_at_once():
    wrong = (modbus.Field("function", 0, 1, "B", ""), modbus.Field("start", 2, 2, "H", ""))
    with pytest.raises(CourseBugError, match="offset 2"):
        modbus._check_table(wrong)
    with pytest.raises(CourseBugError, match="struct code"):
        modbus._check_table((modbus.Field("function", 0, 2, "B", ""),))


# -- limits: sentences, never a struct.error --------------------------------------------------
def test_126_registers_is_refused_with_the_spec_limit_named():
    with pytest.raises(ArgumentError) as caught:
        modbus.read_holding_registers(1, 1, start=0, count=126)
    message = str(caught.value)
    assert "at most 125" in message and "the spec's limit (Modbus Application Protocol 1.1b3, 6.3)" in message
    assert "count=126" in message
    assert modbus.read_holding_registers(1, 1, start=0, count=125)[-2:] == b"\x00\x7d"


def test_2001_coils_is_refused_and_2000_is_taken():
    with pytest.raises(ArgumentError, match=r"at most 2,000 coils.*1\.1b3, 6\.1"):
        modbus.read_coils(1, 1, start=0, count=2001)
    assert modbus.read_coils(1, 1, start=0, count=2000)[-2:] == b"\x07\xd0"


@pytest.mark.parametrize("build, words", [
    (lambda: modbus.read_holding_registers(1, 1, start=0, count=0), "count"),
    (lambda: modbus.read_holding_registers(1, 1, start=0, count=True), "count"),
    (lambda: modbus.read_holding_registers(1, 1, start=0, count=2.0), "count"),
    (lambda: modbus.read_holding_registers(1, 1, start=65536, count=1), "start"),
    (lambda: modbus.read_holding_registers(1, 1, start=-1, count=1), "start"),
    (lambda: modbus.write_single_register(1, 1, address=0, value=65536), "value"),
    (lambda: modbus.write_single_register(1, 1, address=0, value=-1), "n & 0xFFFF"),
    (lambda: modbus.read_coils(65536, 1, start=0, count=1), "transaction"),
    (lambda: modbus.read_coils(1, 256, start=0, count=1), "unit"),
    (lambda: modbus.request(0x04, 1, 1, start=0, count=1), "adu()"),
    (lambda: modbus.request(0x03, 1, 1, start=0), "start= and count="),
    (lambda: modbus.request(0x03, 1, 1, address=0, value=1), "start= and count="),
    (lambda: modbus.response(0x03, 1, 1, registers=[]), "empty"),
    (lambda: modbus.response(0x03, 1, 1, registers=list(range(126))), "126 registers"),
    (lambda: modbus.response(0x01, 1, 1, coils=[2]), "on or off"),
    (lambda: modbus.response(0x03, 1, 1, exception=2, registers=[1]), "only its exception code"),
    (lambda: modbus.response(0x80, 1, 1, exception=2), "function"),
    (lambda: modbus.adu(1, 1, b""), "1 to 253"),
    (lambda: modbus.adu(1, 1, bytes(254)), "1 to 253"),
])
def test_bad_arguments_get_one_sentence(build, words):
    with pytest.raises(ArgumentError) as caught:
        build()
    assert words in str(caught.value)
    assert str(caught.value).endswith(".")


def test_what_is_not_bytes_is_a_type_error():
    with pytest.raises(ArgumentTypeError):
        modbus.parse_response("00 01 00 00")
    with pytest.raises(ArgumentTypeError):
        modbus.FrameReader().feed([0, 1])
    with pytest.raises(ArgumentTypeError):
        modbus.response(0x03, 1, 1, registers="12")


# -- parse_response checks the peer --------------------------------------------------------------
REQUEST = mbap(7, 1, READ_REGISTERS_REQUEST)


NOT_AN_ANSWER = [
    (mbap(8, 1, READ_REGISTERS_RESPONSE), "transaction 8"),
    (mbap(7, 2, READ_REGISTERS_RESPONSE), "unit 2"),
    (mbap(7, 1, "04 06 02 2B 00 00 00 64"), "function code 0x04"),
    (mbap(7, 1, "03 04 02 2B 00 00"), "byte count should be 6"),
    (mbap(7, 1, "80 01"), "function code 0x80"),  # what pymodbus 3.16 answers to 126 registers
]


@pytest.mark.parametrize("frame, words", NOT_AN_ANSWER, ids=[words for _, words in NOT_AN_ANSWER])
def test_a_response_that_does_not_answer_the_request_is_the_peer_s_fault(frame, words):
    with pytest.raises(PeerFault, match=words):
        modbus.parse_response(frame, REQUEST)


MALFORMED = [
    (mbap(7, 1, "03 06 02 2B 00 00"), "6 bytes of data follow, but 4"),
    (mbap(7, 1, "03 03 02 2B 00"), "odd"),
    (mbap(7, 1, "03 00"), "byte count is 0"),
    (mbap(7, 1, "83"), "has 1"),
    (mbap(7, 1, "83 02 00"), "has 3"),
    (mbap(7, 1, "06 00 01 00"), "5 bytes"),
    (mbap(7, 1, "2B 0E"), "0x2B"),
    (mbap(7, 1, READ_REGISTERS_RESPONSE)[:-1], "length field says 9"),
    (mbap(7, 1, READ_REGISTERS_RESPONSE) + b"\x00", "length field says 9"),
    (bytes.fromhex("0007 0001 0003 01 8302"), "protocol identifier 1"),
    (bytes.fromhex("0007 0000 0003 01"), "at least 8 bytes"),
]


@pytest.mark.parametrize("frame, words", MALFORMED, ids=[f"{number}-{words}" for number, (_, words) in
                                                         enumerate(MALFORMED)])
def test_a_malformed_response_is_the_peer_s_fault(frame, words):
    with pytest.raises(PeerFault, match=words):
        modbus.parse_response(frame)


def test_an_echo_that_differs_from_the_write_is_the_peer_s_fault():
    with pytest.raises(PeerFault, match="echoes the request"):
        modbus.parse_response(mbap(1, 1, "06 00 01 00 04"), mbap(1, 1, WRITE_REGISTER))


def test_a_request_that_is_no_request_is_the_caller_s_mistake():
    with pytest.raises(ArgumentError, match="request="):
        modbus.parse_response(mbap(7, 1, READ_REGISTERS_RESPONSE), mbap(7, 1, "03 00"))


def test_coils_are_cut_to_the_quantity_asked_for():
    padded = modbus.parse_response(mbap(1, 1, READ_COILS_RESPONSE))
    assert len(padded.values) == 24 and padded.values[19:] == (False,) * 5  # the spec pads with zeros
    assert modbus.parse_response(mbap(1, 1, READ_COILS_RESPONSE), mbap(1, 1, READ_COILS_REQUEST)).values \
        == COILS_20_TO_38


def test_parse_request_reads_a_request_back():
    asked = modbus.parse_request(mbap(7, 1, READ_REGISTERS_REQUEST))
    assert (asked.transaction, asked.unit, asked.function, asked.fields) == (7, 1, 3, {"start": 0x6B, "count": 3})
    with pytest.raises(PeerFault, match="5 bytes"):
        modbus.parse_request(mbap(7, 1, "03 00 6B 00"))


# -- FrameReader: a stream into frames ---------------------------------------------------------------
STREAM = mbap(7, 1, READ_REGISTERS_RESPONSE) + mbap(8, 1, EXCEPTION_RESPONSE) + mbap(9, 1, WRITE_REGISTER)
FRAMES = [mbap(7, 1, READ_REGISTERS_RESPONSE), mbap(8, 1, EXCEPTION_RESPONSE), mbap(9, 1, WRITE_REGISTER)]


def test_frame_reader_reassembles_a_frame_split_at_every_point():
    frame = FRAMES[0]
    for cut in range(len(frame) + 1):
        reader = modbus.FrameReader()
        first = reader.feed(frame[:cut])
        assert first == ([frame] if cut == len(frame) else [])
        assert reader.pending == (cut if cut < len(frame) else 0)
        assert first + reader.feed(frame[cut:]) == [frame], f"split at byte {cut}"
        assert reader.pending == 0


def test_frame_reader_finds_three_frames_in_a_stream_cut_at_every_pair_of_points():
    for first, second in itertools.combinations(range(len(STREAM) + 1), 2):
        reader = modbus.FrameReader()
        got = reader.feed(STREAM[:first]) + reader.feed(STREAM[first:second]) + reader.feed(STREAM[second:])
        assert got == FRAMES, f"cuts at {first} and {second}"


def test_frame_reader_one_byte_at_a_time():
    reader = modbus.FrameReader()
    got = [frame for byte in STREAM for frame in reader.feed(bytes([byte]))]
    assert got == FRAMES and reader.pending == 0


GARBAGE = [
    (bytes.fromhex("0001 0001"), "protocol identifier 1"),      # caught before the length is in
    (bytes.fromhex("0001 0000 0000 01"), "says 0 bytes follow"),
    (bytes.fromhex("0001 0000 0001 01"), "says 1 bytes follow"),
    (bytes.fromhex("0001 0000 012C 01 03"), "says 300 bytes follow"),
    (b"GET / HTTP/1.1\r\n", "protocol identifier"),
]


@pytest.mark.parametrize("garbage, words", GARBAGE, ids=[f"{number}-{words}" for number, (_, words) in
                                                         enumerate(GARBAGE)])
def test_garbage_is_the_peer_s_fault_and_the_reader_stays_broken(garbage, words):
    reader = modbus.FrameReader()
    with pytest.raises(PeerFault, match=words):
        reader.feed(garbage)
    assert reader.broken
    with pytest.raises(PeerFault, match="cannot be resynchronised"):
        reader.feed(FRAMES[0])


def test_frames_before_the_garbage_ride_along_on_the_error():
    reader = modbus.FrameReader()
    with pytest.raises(PeerFault) as caught:
        reader.feed(FRAMES[0] + bytes.fromhex("0001 0000 012C"))
    assert caught.value.frames == [FRAMES[0]]


def test_the_largest_frames_pass_and_one_byte_more_does_not():
    largest = modbus.response(0x03, 1, 1, registers=list(range(125)))
    assert len(largest) == 7 + 2 + 250
    assert modbus.FrameReader().feed(largest) == [largest]
    assert modbus.parse_response(largest).values == tuple(range(125))
    at_limit = modbus.adu(1, 1, bytes([0x41]) + bytes(252))
    assert len(at_limit) == modbus.MAX_ADU and modbus.FrameReader().feed(at_limit) == [at_limit]
    over = struct.pack(">HHHB", 1, 0, modbus.MAX_LENGTH + 1, 1)
    with pytest.raises(PeerFault, match="255 bytes"):
        modbus.FrameReader().feed(over)
