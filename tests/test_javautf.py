"""Tests of Java's modified UTF-8 (sockcourse.protocols.javautf), first alone, then against the real Java.

The pure tests pin the bytes the Java SE 17 API docs give (java.io.DataInput,
"Modified UTF-8"; DataOutputStream.writeUTF; DataInputStream.readUTF) and the
65,535-byte limit to the byte. The rest ask a real JVM: the UtfTool peer runs
DataOutputStream.writeUTF and DataInputStream.readUTF on whatever we send it,
one Java process answering many lines, so a difference between the Python
encoder and Java, even in an error message, fails a test here. Last, javac
itself writes a string constant into a class file (JVM Specification 4.4.7,
CONSTANT_Utf8_info), and encode() must find it there byte for byte.
About 2 s in all once UtfTool is built (the first build adds 2-4 s).
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sockcourse.core.errors import ArgumentError, ArgumentTypeError, IncompleteMessage
from sockcourse.peers import toolchains
from sockcourse.protocols import javautf
from sockcourse.protocols.javautf import MAX_BYTES, ModifiedUtf8Error, TooLongForWriteUTF

pytestmark = pytest.mark.timeout(120)

EMOJI = "\N{GRINNING FACE}"  # U+1F600


# -- the bytes the docs give -------------------------------------------------------------------
@pytest.mark.parametrize("text, body", [
    ("hello", b"hello"),
    ("naïve café", "naïve café".encode("utf-8")),           # below U+FFFF and not NUL: as plain UTF-8
    ("\0", b"\xc0\x80"),                                     # NUL: the 2-byte form
    ("\x7f\x80\u07ff\u0800", b"\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80"),   # the edges of the 1-, 2-, 3-byte rows
    ("\uffff", b"\xef\xbf\xbf"),
    (EMOJI, b"\xed\xa0\xbd\xed\xb8\x80"),                    # two surrogates, 3 bytes each
    ("\ud800", b"\xed\xa0\x80"),                             # a lone high surrogate, as Java writes it
    ("\udfff", b"\xed\xbf\xbf"),                             # a lone low one
    ("", b""),
])
def test_encode_gives_the_documented_bytes(text, body):
    assert javautf.encode(text) == body
    assert javautf.frame(text) == len(body).to_bytes(2, "big") + body
    assert javautf.decode(body) == text
    assert javautf.unframe(javautf.frame(text)) == (text, b"")


def test_where_plain_utf8_differs():
    text = "a\0b" + EMOJI
    assert 0 not in javautf.encode(text)          # no zero byte, the point of the 2-byte NUL
    assert javautf.encode(text) != text.encode("utf-8")
    assert len(javautf.encode(EMOJI)) == 6 and len(EMOJI.encode("utf-8")) == 4
    # What a client that sent str.encode('utf-8') would see from Java's side: readUTF refuses the 4-byte form.
    with pytest.raises(ModifiedUtf8Error) as refused:
        javautf.decode(text.encode("utf-8"))
    assert refused.value.java_message == "malformed input around byte 3"
    assert "F0 9F 98 80" in str(refused.value) and "javautf.encode()" in str(refused.value)


def test_a_surrogate_pair_written_as_two_halves_is_the_character():
    halves = "\ud83d\ude00"   # a Python str of two lone surrogates: one UTF-16 pair, as Java sees it
    assert javautf.encode(halves) == javautf.encode(EMOJI)
    assert javautf.decode(javautf.encode(halves)) == EMOJI
    assert javautf.decode(b"\xed\xb8\x80\xed\xa0\xbd") == "\ude00\ud83d"   # the wrong order stays two lone ones


# -- the limit: 65,535 bytes, to the byte ---------------------------------------------------------
@pytest.mark.parametrize("text, size", [
    ("a" * 65_535, 65_535),
    ("\u20ac" * 21_845, 65_535),                   # 21,845 three-byte characters
    ("\0" * 32_767 + "a", 65_535),                 # NUL counts two bytes
    (EMOJI * 10_922 + "abc", 65_535),              # an emoji counts six
])
def test_the_longest_frames_writeutf_sends(text, size):
    framed = javautf.frame(text)
    assert framed[:2] == b"\xff\xff" and len(framed) == 2 + size == 2 + MAX_BYTES
    assert javautf.unframe(framed) == (text, b"")


@pytest.mark.parametrize("text, size", [
    ("a" * 65_536, 65_536),
    ("\u20ac" * 21_845 + "a", 65_536),
    ("\0" * 32_768, 65_536),
    (EMOJI * 10_922 + "abcd", 65_536),
    ("\u20ac" * 21_846, 65_538),
])
def test_one_byte_more_is_refused(text, size):
    with pytest.raises(TooLongForWriteUTF) as refused:
        javautf.frame(text)
    message = str(refused.value)
    assert isinstance(refused.value, ArgumentError) and isinstance(refused.value, ValueError)
    assert refused.value.length == size
    assert f"{size:,} bytes" in message and "65,535 bytes" in message
    assert message.endswith("split it, or send the length as an int and the bytes yourself.")
    assert len(javautf.encode(text)) == size   # the body alone has no limit: only writeUTF's frame has


# -- what readUTF accepts and refuses -------------------------------------------------------------
@pytest.mark.parametrize("body, text", [
    (b"a\x00b", "a\0b"),               # a plain zero byte matches 0xxxxxxx: accepted, never written
    (b"\xc0\x80", "\0"),
    (b"\xc1\xbf", "\x7f"),             # overlong forms are not checked
    (b"\xe0\x80\x80", "\0"),
    (b"\xe0\x81\x81", "A"),
    (b"\xed\xa0\x80", "\ud800"),       # a lone surrogate unit
])
def test_decode_accepts_what_readutf_accepts(body, text):
    assert javautf.decode(body) == text


@pytest.mark.parametrize("body, java", [
    (b"\xf0\x9f\x98\x80", "malformed input around byte 0"),   # a 4-byte UTF-8 sequence
    (b"ab\xf0\x9f\x98\x80", "malformed input around byte 2"),
    (b"\x80", "malformed input around byte 0"),               # a continuation byte with no lead
    (b"\xff", "malformed input around byte 0"),
    (b"\xf8abc", "malformed input around byte 0"),
    (b"\xc3\x28", "malformed input around byte 2"),           # Java counts from the group's end here
    (b"x\xc3\x28", "malformed input around byte 3"),
    (b"\xe2\x82\x28", "malformed input around byte 2"),
    (b"\xe2\x28\x82", "malformed input around byte 2"),
    (b"\xc3", "malformed input: partial character at end"),
    (b"ab\xe2\x82", "malformed input: partial character at end"),
    (b"\xe2\x28", "malformed input: partial character at end"),  # cut off wins over a bad continuation
])
def test_decode_refuses_what_readutf_refuses(body, java):
    with pytest.raises(ModifiedUtf8Error) as refused:
        javautf.decode(body)
    error = refused.value
    assert isinstance(error, ArgumentError) and error.java_message == java
    assert f"UTFDataFormatException: {java};" in str(error)
    assert javautf.spaced_hex(body[error.start:error.start + 1]) in str(error)


def test_unframe_keeps_what_follows_and_waits_for_the_rest():
    first = javautf.frame("first\0")
    two = first + javautf.frame(EMOJI)
    text, rest = javautf.unframe(two)
    assert text == "first\0" and javautf.unframe(rest) == (EMOJI, b"")
    for cut in range(len(first)):   # every prefix of the first frame is short
        with pytest.raises(IncompleteMessage) as short:
            javautf.unframe(two[:cut])
        assert short.value.partial == two[:cut]
        assert short.value.expected == (2 if cut < 2 else len(first))
        assert f"Only {cut} of the {short.value.expected} bytes" in str(short.value)
    assert javautf.unframe(bytearray(first)) == ("first\0", b"")


@pytest.mark.parametrize("call, value", [
    (javautf.encode, b"bytes"), (javautf.frame, 42), (javautf.layout, None),
    (javautf.decode, "text"), (javautf.unframe, ["a"]),
])
def test_wrong_types_get_a_sentence(call, value):
    with pytest.raises(ArgumentTypeError) as wrong:
        call(value)
    assert type(value).__name__ in str(wrong.value) and str(wrong.value).endswith(".")


def test_layout_rows():
    pieces = javautf.layout("é\0" + EMOJI + "\ud800")
    assert [p.code_point for p in pieces] == [0xE9, 0, 0x1F600, 0xD800]
    assert [p.utf16 for p in pieces] == [(0xE9,), (0,), (0xD83D, 0xDE00), (0xD800,)]
    assert [p.utf8_hex for p in pieces] == ["C3 A9", "00", "F0 9F 98 80", "(none)"]
    assert [p.modified_hex for p in pieces] == ["C3 A9", "C0 80", "ED A0 BD ED B8 80", "ED A0 80"]
    assert [p.differs for p in pieces] == [False, True, True, True]
    assert pieces[0].why == "" and all(p.why for p in pieces[1:])
    assert pieces[0].name == "LATIN SMALL LETTER E WITH ACUTE" and pieces[3].name == "lone high surrogate"


# -- against the real Java -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def utftool() -> list[str]:
    """The argv that runs UtfTool, built (or found built) by the course's own toolchains."""
    why = toolchains.missing("java")
    if why:
        pytest.skip(why)
    return toolchains.build("UtfTool", "java").command()


def ask_java(argv: list[str], requests: list[str]) -> list[str]:
    """One Java process answers every request; one line back per line sent."""
    done = subprocess.run(argv, input="".join(line + "\n" for line in requests), capture_output=True,
                          text=True, encoding="ascii", timeout=60)
    assert done.returncode == 0, done.stderr
    answers = done.stdout.splitlines()
    assert len(answers) == len(requests), done.stderr
    return answers


def unescape(message: str) -> str:
    """UtfTool writes a character outside printable ASCII as a backslash, u and 4 hex digits."""
    units = re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), message)
    return units.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")


def utf16_hex(text: str) -> str:
    return text.encode("utf-16-be", "surrogatepass").hex()


#: What the random strings are made of: each row of the table, its edges, NUL, CJK, emoji, lone halves.
ALPHABET = ["a", "Z", " ", "\n", "\0", "\x7f", "\x80", "é", "\u07ff", "\u0800", "中", "文", "\uffff",
            EMOJI, "\U0010ffff", "\U00010000", "\ud800", "\udbff", "\udc00", "\udfff"]


def random_texts(count: int, seed: int = 6) -> list[str]:
    rng = random.Random(seed)
    return [""] + ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 24))) for _ in range(count)]


def test_java_writes_what_frame_writes(utftool):
    texts = random_texts(400)
    answers = ask_java(utftool, [f"encode {utf16_hex(text)}" for text in texts])
    for text, answer in zip(texts, answers):
        assert answer == f"ok {javautf.frame(text).hex()}", f"{text!r}: Java said {answer}"


def test_java_reads_what_frame_writes(utftool):
    texts = random_texts(400, seed=60)
    answers = ask_java(utftool, [f"decode {javautf.frame(text).hex()}" for text in texts])
    for text, answer in zip(texts, answers):
        assert answer == f"ok {utf16_hex(text)}", f"{text!r}: Java said {answer}"


#: Bytes that start, continue and break groups: random bodies of them hit every rule of readUTF.
TRICKY = [0x00, 0x28, 0x41, 0x7F, 0x80, 0xBF, 0xC0, 0xC1, 0xC3, 0xDF, 0xE0, 0xE2, 0xED, 0xEF, 0xF0, 0xF4,
          0xF8, 0xFF]


def test_decode_agrees_with_readutf_on_random_bytes(utftool):
    rng = random.Random(6)
    bodies = [bytes(rng.choice(TRICKY) for _ in range(rng.randint(0, 7))) for _ in range(600)]
    answers = ask_java(utftool, [f"decode {len(body):04x}{body.hex()}" for body in bodies])
    refused = 0
    for body, answer in zip(bodies, answers):
        try:
            ours = f"ok {utf16_hex(javautf.decode(body))}"
        except ModifiedUtf8Error as error:
            ours = f"error java.io.UTFDataFormatException: {error.java_message}"
            refused += 1
        assert ours == answer, f"{body.hex(' ')}: Java said {answer!r}, javautf {ours!r}"
    assert 100 < refused < 550   # both verdicts were really tried


def test_short_frames_are_short_for_java_too(utftool):
    frames = [b"", b"\x00", b"\x00\x05abc", javautf.frame(EMOJI)[:-1]]
    answers = ask_java(utftool, [f"decode {data.hex()}" for data in frames])
    assert answers == ["error java.io.EOFException"] * len(frames)
    for data in frames:
        with pytest.raises(IncompleteMessage):
            javautf.unframe(data)


def test_java_refuses_the_same_long_strings_in_the_same_words(utftool):
    texts = ["a" * 65_535, "a" * 65_536, "\u20ac" * 21_845, "\u20ac" * 21_846, "\0" * 32_768,
             "x" + EMOJI * 10_922 + "\ud800", "\u00e9" * 40_000]
    answers = ask_java(utftool, [f"encode {utf16_hex(text)}" for text in texts])
    for text, answer in zip(texts, answers):
        try:
            ours = f"ok {javautf.frame(text).hex()}"
        except TooLongForWriteUTF as error:
            ours = f"error java.io.UTFDataFormatException: {error.java_message}"
        assert unescape(answer) == ours, f"{text[:10]!r}...: Java said {answer[:120]}"


# -- the class file: javac writes the same bytes ----------------------------------------------------
def constant_pool(data: bytes) -> dict[int, tuple[int, bytes]]:
    """The constant pool of a class file: index -> (tag, the entry's bytes after its tag), JVMS 4.4."""
    assert data[:4] == b"\xca\xfe\xba\xbe"
    count = int.from_bytes(data[8:10], "big")
    sizes = {3: 4, 4: 4, 5: 8, 6: 8, 7: 2, 8: 2, 9: 4, 10: 4, 11: 4, 12: 4, 15: 3, 16: 2, 17: 4, 18: 4,
             19: 2, 20: 2}
    pool, at, index = {}, 10, 1
    while index < count:
        tag = data[at]
        size = 2 + int.from_bytes(data[at + 1:at + 3], "big") if tag == 1 else sizes[tag]
        pool[index] = (tag, data[at + 1:at + 1 + size])
        at += 1 + size
        index += 2 if tag in (5, 6) else 1   # a long or a double takes two slots (JVMS 4.4.5)
    return pool


def test_javac_writes_string_constants_in_modified_utf8(tmp_path):
    javac, javap = shutil.which("javac"), shutil.which("javap")
    if not (javac and javap):
        pytest.skip("javac or javap is missing; install a JDK, for example 'apt-get install default-jdk-headless'.")
    text = "nul:\0 emoji:" + EMOJI
    source = tmp_path / "Holder.java"
    source.write_text('final class Holder {\n    static final String TEXT = "nul:\\u0000 emoji:\\uD83D\\uDE00";\n}\n',
                      encoding="ascii")
    subprocess.run([javac, "-d", str(tmp_path), str(source)], check=True, capture_output=True, timeout=60)
    data = (tmp_path / "Holder.class").read_bytes()

    # CONSTANT_Utf8_info: tag 1, a u2 length, then the bytes: exactly frame(), after the tag.
    assert b"\x01" + javautf.frame(text) in data
    assert text.encode("utf-8") not in data and b"\x00 emoji" not in data
    index = next(i for i, (tag, entry) in constant_pool(data).items() if tag == 1 and entry == javautf.frame(text))

    listing = subprocess.run([javap, "-v", str(tmp_path / "Holder.class")], capture_output=True, text=True,
                             errors="replace", timeout=60).stdout
    # javap names the same entry, and a String constant points at it.
    assert re.search(rf"#{index} = Utf8\s+nul:\\u0000 emoji:", listing), listing
    assert re.search(rf"= String\s+#{index}\b", listing), listing

