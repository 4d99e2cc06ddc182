"""Tests of sockcourse.peers.toolchains: four languages as data, the build cache, and the sentences it says.

Every compiler here is the real one (or a shell script in front of it that
notes each call, so a test can see whether a compiler ran). The cache tests
point $SOCKCOURSE_CACHE at the test's own folder; the others use the
course's cache, as a notebook does.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from sockcourse.core.errors import ArgumentError, BuildError, MissingFileError, SockcourseError
from sockcourse.peers import native, toolchains

pytestmark = pytest.mark.timeout(120)

LANGUAGES = ("c", "java", "rust", "node")


def needs(language: str):
    """Skip a test when `language`'s toolchain is not here, with the sentence that says what to install."""
    said = toolchains.missing(language)
    return pytest.mark.skipif(said is not None, reason=said or "")


def tool_called(tmp_path: Path, real: str, *, delay: float = 0.0) -> tuple[Path, Path]:
    """A script that notes each call in a log, then runs the real tool: (the script, its log)."""
    log = tmp_path / f"{Path(real).name}-calls.log"
    script = tmp_path / f"noting-{Path(real).name}"
    pause = f"sleep {delay}\n" if delay else ""
    script.write_text(f"#!/bin/sh\necho called >> '{log}'\n{pause}exec '{real}' \"$@\"\n")
    script.chmod(0o755)
    return script, log


def calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def in_new_process(code: str, **env) -> dict:
    """Run `code` in a fresh Python (which prints one JSON line) and return what it printed."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=90,
                          env={**os.environ, **env}, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


BUILD_IN_CHILD = """
    import json, os, sys
    from sockcourse.peers import toolchains
    built = toolchains.build_file(sys.argv[1] if len(sys.argv) > 1 else os.environ["SOURCE"], "c")
    info = os.stat(built.program)
    print(json.dumps({"cached": built.cached, "program": str(built.program), "inode": info.st_ino,
                      "mtime_ns": info.st_mtime_ns}))
"""

HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello from C"); return 0; }\n'


# -- the records ---------------------------------------------------------------------------------
def test_each_language_is_a_record_of_the_same_shape():
    assert tuple(toolchains.TOOLCHAINS) == LANGUAGES
    for language, chain in toolchains.TOOLCHAINS.items():
        assert isinstance(chain, toolchains.Toolchain) and chain.language == language
        assert "{source}" in chain.build and chain.suffix.startswith(".") and chain.candidates
        assert chain.example in chain.programs, f"{language}: the peer named in messages exists"
    assert toolchains.JAVA.build[-3:] == ("-d", "{folder}", "{source}")
    assert toolchains.JAVA.run[0] == "{runtime}" and toolchains.JAVA.run[-3:] == ("-cp", "{folder}", "{name}")
    assert "-XX:TieredStopAtLevel=1" in toolchains.JAVA.run and "-XX:+UseSerialGC" in toolchains.JAVA.run
    assert toolchains.RUST.flags == ("-O", "--edition", "2021") and "~/.cargo/bin" in toolchains.RUST.folders
    assert toolchains.NODE.build == ("{compiler}", "--check", "{source}")
    with pytest.raises(ValueError, match=r"Unknown language 'go'; expected one of 'c', 'java', 'rust', 'node'"):
        toolchains.programs("go")


def test_the_shipped_peers_are_found_in_their_folders():
    assert {"echo_server", "talk_server", "pingpong"} <= set(toolchains.programs("c"))
    assert "UtfEchoServer" in toolchains.programs("java")
    assert toolchains.programs("rust") == ("echo_client", "echo_server")
    assert toolchains.programs("node") == ("echo_client", "echo_server")
    assert toolchains.source("echo_server", "node") == toolchains.SOURCES / "node" / "echo_server.js"


def test_a_peer_is_added_by_adding_a_file(monkeypatch, tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    for name in ("alpha.c", "beta.c", ".hidden.c", "notes.txt", "_draft.c"):
        (folder / name).write_text("int main(void) { return 0; }\n")
    monkeypatch.setattr(toolchains, "SOURCES", tmp_path)
    assert toolchains.programs("c") == ("alpha", "beta")
    (folder / "gamma.c").write_text("int main(void) { return 0; }\n")
    assert toolchains.programs("c") == ("alpha", "beta", "gamma"), "no list to update: the folder is the list"
    assert toolchains.programs("java") == (), "a language without a folder has no peers"
    with pytest.raises(ArgumentError, match=r"There is no C peer called 'delta'; expected one of 'alpha', 'beta', "
                                            r"'gamma', the \.c files in .*/c\."):
        toolchains.build("delta", "c")


# -- what is missing -----------------------------------------------------------------------------
@pytest.mark.parametrize("language, words", [
    ("c", ["No C compiler was found (tried $CC, cc, gcc, clang)", "'apt-get install gcc' on Debian or Ubuntu",
           "'xcode-select --install' on macOS"]),
    ("java", ["No Java compiler was found (tried $JAVAC, javac)",
              "'apt-get install default-jdk-headless' on Debian or Ubuntu", "'brew install openjdk' on macOS"]),
    ("rust", ["No Rust compiler was found (tried $RUSTC, rustc, ~/.cargo/bin/rustc)",
              "'apt-get install rustc' on Debian or Ubuntu", "rustup", "'brew install rust' on macOS"]),
    ("node", ["No Node.js runtime was found (tried $NODE, node, nodejs)",
              "'apt-get install nodejs' on Debian or Ubuntu", "'brew install node' on macOS"]),
])
def test_a_missing_toolchain_is_one_sentence_of_what_was_tried_and_what_to_install(monkeypatch, tmp_path,
                                                                                     language, words):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("HOME", str(empty))  # no ~/.cargo/bin either
    monkeypatch.setenv(toolchains.toolchain(language).env, str(empty / "no-such-compiler"))
    said = toolchains.missing(language)
    assert said is not None
    for part in words:
        assert part in said, (part, said)
    assert said.endswith(".") and said.count(". ") == 0 and "\n" not in said, "one sentence"
    assert not native.available(language)
    with pytest.raises(toolchains.Unavailable) as caught:
        toolchains.build(toolchains.toolchain(language).example, language)
    assert str(caught.value) == said and isinstance(caught.value, BuildError)
    assert native.Unavailable is toolchains.Unavailable and issubclass(native.Unavailable, SockcourseError)


@needs("java")
def test_a_java_compiler_without_a_runtime_beside_it_or_on_path_is_said_too(monkeypatch, tmp_path):
    javac, _ = tool_called(tmp_path, toolchains.find("java")[0])
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("JAVAC", str(javac))
    monkeypatch.setenv("PATH", str(empty))
    said = toolchains.missing("java")
    assert said.startswith(f"A Java compiler was found ({javac}), but no program to run what it builds "
                           f"(tried java next to it and on PATH); install a JDK"), said


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_toolchain_that_is_here_is_not_missing(language):
    if toolchains.find(language) is None:
        pytest.skip(toolchains.missing(language))
    assert toolchains.missing(language) is None and native.available(language)


# -- the cache -------------------------------------------------------------------------------------
def test_the_cache_folder_follows_the_environment_and_stays_out_of_the_repository(monkeypatch, tmp_path):
    monkeypatch.delenv("SOCKCOURSE_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert toolchains.cache_dir() == tmp_path / "home" / ".cache" / "sockcourse"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert toolchains.cache_dir() == tmp_path / "xdg" / "sockcourse"
    monkeypatch.setenv("SOCKCOURSE_CACHE", str(tmp_path / "mine"))
    assert toolchains.cache_dir() == tmp_path / "mine"
    # Binder's home folder is the course's checkout: the cache must not land among its files.
    monkeypatch.delenv("SOCKCOURSE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(toolchains.REPOSITORY / ".cache"))
    fallback = toolchains.cache_dir()
    assert toolchains.REPOSITORY not in fallback.parents and fallback.name.startswith("sockcourse-cache-")
    monkeypatch.setenv("SOCKCOURSE_CACHE", str(toolchains.REPOSITORY / "build-cache"))
    with pytest.raises(ArgumentError, match=r"\$SOCKCOURSE_CACHE=.* is inside the course's own folder"):
        toolchains.cache_dir()


@needs("c")
def test_a_second_process_finds_the_build_and_runs_no_compiler(monkeypatch, tmp_path):
    cc, log = tool_called(tmp_path, toolchains.find("c")[0])
    source = tmp_path / "hello.c"
    source.write_text(HELLO_C)
    env = {"SOCKCOURSE_CACHE": str(tmp_path / "cache"), "CC": str(cc), "SOURCE": str(source)}

    first = in_new_process(BUILD_IN_CHILD, **env)
    assert first["cached"] is False and calls(log) == 1
    second = in_new_process(BUILD_IN_CHILD, **env)
    assert second == {**first, "cached": True}, "the same file, untouched: same inode, same mtime"
    assert calls(log) == 1, "the second process ran no compiler"
    done = subprocess.run([second["program"]], capture_output=True, text=True, timeout=30)
    assert done.stdout == "hello from C\n"

    # The same check fails when it should: a changed source, or a changed compiler, builds anew.
    source.write_text(HELLO_C.replace("hello from C", "hello again"))
    third = in_new_process(BUILD_IN_CHILD, **env)
    assert third["cached"] is False and third["program"] != first["program"] and calls(log) == 2
    os.utime(cc, ns=(os.stat(cc).st_atime_ns, os.stat(cc).st_mtime_ns + 10**9))  # an "upgraded" compiler
    fourth = in_new_process(BUILD_IN_CHILD, **env)
    assert fourth["cached"] is False and fourth["program"] != third["program"] and calls(log) == 3
    left = sorted(p.name for p in (tmp_path / "cache" / "c").iterdir() if not p.name.endswith(".lock"))
    assert len(left) == 3 and all(name.startswith("hello-") for name in left), "only whole builds, no scratch"


@needs("c")
def test_two_processes_building_at_once_both_succeed_and_the_compiler_runs_once(tmp_path):
    cc, log = tool_called(tmp_path, toolchains.find("c")[0], delay=1.0)  # slow, so the two overlap
    source = tmp_path / "hello.c"
    source.write_text(HELLO_C)
    env = {**os.environ, "SOCKCOURSE_CACHE": str(tmp_path / "cache"), "CC": str(cc), "SOURCE": str(source)}
    children = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(BUILD_IN_CHILD)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL)
                for _ in range(2)]
    results = []
    for child in children:
        out, err = child.communicate(timeout=90)
        assert child.returncode == 0, err
        results.append(json.loads(out))
    assert results[0]["program"] == results[1]["program"]
    assert sorted(r["cached"] for r in results) == [False, True], "one built, the other waited and found it"
    assert calls(log) == 1
    done = subprocess.run([results[0]["program"]], capture_output=True, text=True, timeout=30)
    assert done.stdout == "hello from C\n"


@needs("c")
def test_without_a_lock_two_builds_at_once_still_leave_one_whole_copy(monkeypatch, tmp_path):
    # As on a system without flock: both compile, and the rename decides which copy stays.
    monkeypatch.setattr(toolchains, "fcntl", None)
    monkeypatch.setenv("SOCKCOURSE_CACHE", str(tmp_path / "cache"))
    cc, log = tool_called(tmp_path, toolchains.find("c")[0], delay=0.5)
    monkeypatch.setenv("CC", str(cc))
    source = tmp_path / "hello.c"
    source.write_text(HELLO_C)
    results, errors = [], []

    def build():
        try:
            results.append(toolchains.build_file(source, "c"))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(results) == 2 and calls(log) == 2, "both compiled: there was no lock"
    assert results[0].program == results[1].program
    done = subprocess.run([str(results[0].program)], capture_output=True, text=True, timeout=30)
    assert done.stdout == "hello from C\n"
    assert [p.name for p in (tmp_path / "cache" / "c").iterdir() if not p.name.endswith(".lock")] == \
        [results[0].program.parent.name], "the losing copy was removed"


# -- refusals --------------------------------------------------------------------------------------
BROKEN = {
    "c": ("broken.c", "int main(void) {\n" + "".join(f"    undeclared_{i} = {i};\n" for i in range(30)) + "}\n"),
    "java": ("Broken.java", "public class Broken {\n" + "".join(f"    int f{i}() {{ return x{i}; }}\n"
                                                                 for i in range(30)) + "}\n"),
    "rust": ("broken.rs", "fn main() {\n" + "".join(f"    let a{i}: u8 = y{i};\n" for i in range(30)) + "}\n"),
    "node": ("broken.js", "'use strict';\nfunction (\n"),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_source_that_does_not_build_is_a_sentence_quoting_the_compiler_s_first_lines(monkeypatch, tmp_path,
                                                                                       language):
    if toolchains.missing(language):
        pytest.skip(toolchains.missing(language))
    monkeypatch.setenv("SOCKCOURSE_CACHE", str(tmp_path / "cache"))
    file_name, text = BROKEN[language]
    source = tmp_path / file_name
    source.write_text(text)
    with pytest.raises(BuildError) as caught:
        toolchains.build_file(source, language)
    message = str(caught.value)
    chain = toolchains.toolchain(language)
    head, _, quoted = message.partition(", and it said:\n")
    assert head.startswith(f"The {chain.tool} (") and f"could not {chain.verb} {file_name}: it exited with code" in head
    assert quoted, message
    lines = quoted.splitlines()
    assert file_name in lines[0] or file_name in lines[1], "the compiler's own first lines, naming the file"
    assert len(lines) <= toolchains.QUOTED_LINES + 1
    if language != "node":  # thirty errors: more than ten lines, cut, and said so
        assert lines[-1].startswith("(and ") and lines[-1].endswith(" more lines)")
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert [p.name for p in (tmp_path / "cache" / language).iterdir() if not p.name.endswith(".lock")] == [], \
        "a failed build leaves no folder behind"


def test_build_file_refuses_what_is_not_a_source_in_a_sentence(tmp_path):
    with pytest.raises(MissingFileError, match=r"The source file '.*nowhere\.c' does not exist"):
        toolchains.build_file(tmp_path / "nowhere.c", "c")
    (tmp_path / "x.c").write_text(HELLO_C)
    with pytest.raises(ArgumentError, match=r"A peer's name must be a plain file stem such as 'echo_server', "
                                            r"but got '\.\./x'"):
        toolchains.build_file(tmp_path / "x.c", "c", name="../x")
    with pytest.raises(ValueError, match=r"Unknown language 'cobol'"):
        toolchains.build_file(tmp_path / "x.c", "cobol")


# -- the built programs ----------------------------------------------------------------------------
@pytest.mark.parametrize("language, name", [("c", "echo_server"), ("java", "UtfEchoServer"),
                                            ("rust", "echo_client"), ("node", "echo_client")])
def test_built_command_is_the_argv_that_runs_it_and_a_second_build_is_cached(language, name):
    if toolchains.missing(language):
        pytest.skip(toolchains.missing(language))
    first = toolchains.build(name, language)
    again = toolchains.build(name, language)
    assert again.cached and again.program == first.program and again.argv_prefix == first.argv_prefix
    assert first.program.is_file() and toolchains.cache_dir() in first.program.parents
    command = again.command("127.0.0.1", 5)
    assert command[-2:] == ["127.0.0.1", "5"]
    if language in ("c", "rust"):
        assert command[0] == str(first.program) and os.access(first.program, os.X_OK)
    elif language == "java":
        assert first.program.name == "UtfEchoServer.class"
        assert Path(command[0]).name == "java" and command[-5:-2] == ["-cp", str(first.folder), "UtfEchoServer"]
    else:
        assert Path(command[0]).name in ("node", "nodejs") and command[1] == str(first.program)
        assert first.program.read_bytes() == toolchains.source(name, "node").read_bytes(), "the checked copy runs"


@needs("c")
def test_the_older_built_still_yields_a_private_copy_and_removes_it():
    with toolchains.built("echo_server") as program:
        assert os.path.isfile(program) and Path(program).parent != toolchains.build("echo_server", "c").folder
        assert toolchains.run_command(program, "::1") == [program, "::1"]
    assert not os.path.exists(program) and not os.path.exists(os.path.dirname(program))
    assert toolchains.build("echo_server", "c").program.is_file(), "the cached build stays"


@needs("c")
def test_the_talk_s_server_is_real_c_that_compiles():
    built = toolchains.build("talk_server", "c")
    assert built.program.is_file() and os.access(built.program, os.X_OK)
    text = toolchains.source("talk_server").read_text()
    assert "SO_REUSEADDR | SO_REUSEPORT" in text and "INADDR_ANY" in text and "8080" in text


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the numbers 2 and 15 are Linux's; other systems number these options differently.")
def test_the_talk_s_one_call_sets_only_so_reuseport_on_linux():
    # What talk_server.c's comment says, asked of this kernel: SO_REUSEADDR | SO_REUSEPORT == 15 == SO_REUSEPORT.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR | socket.SO_REUSEPORT, 1)
        assert (socket.SO_REUSEADDR, socket.SO_REUSEPORT) == (2, 15)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0, "never set by that call"
