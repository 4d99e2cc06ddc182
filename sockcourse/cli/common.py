"""What every subcommand of the command line shares: exit codes, the parser, signals, and words.

- `Parser`: argparse, but a mistake on the command line is told in one line,
  like every other refusal here.
- `StopSignals`: Ctrl-C (SIGINT), SIGTERM and SIGHUP (the terminal closed)
  end a running server or link in good order, so its files go with it.
- `option_words()`: the one translator of the package's sentences, written
  for Python callers ("use port=0"), into the command line's ("use --port 0").
- `whole_number()`: an option's text as a whole number, or one sentence.
- `say()`: a line for the human at the terminal, which may already be gone.

A subcommand raises `UsageError` (the package's own, `core.errors.UsageError`)
for bad input; `sockcourse.cli.main()` prints it as one line and exits with 2.
"""

from __future__ import annotations

import argparse
import re
import selectors
import shlex
import signal
import socket
import sys
import threading

from ..core.errors import SockcourseError, UsageError

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "Parser", "STOP_SIGNALS", "StopSignals",
           "UsageError", "one_line", "option_words", "say", "whole_number"]

#: Exit codes: 0 all went well, 1 what ran failed (a handler, the link, a measurement), 2 bad input,
#: 130 (128 + SIGINT, as shells report it) Ctrl-C outside a running server or link.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: The signals that end a running server or link in good order. SIGHUP is what
#: a closing terminal sends; without a handler it would kill the process with
#: its UNIX socket file and TLS key folder still on disk.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

# The main thread wakes up at once on a signal; this tick only bounds how long
# a lost wake-up byte could delay the stop.
_WAIT_TICK = 1.0


# -- the parser ---------------------------------------------------------------------
class Parser(argparse.ArgumentParser):
    """argparse's parser, but a mistake is one line with a hint, as every other refusal here.

    argparse itself prints the whole usage block and then a terse phrase; at
    the end of a long command line the phrase is what matters.
    """

    def error(self, message: str):
        text = message[:1].upper() + message[1:]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {text}; see '{self.prog} --help' for what it takes.\n")


# -- lines for the human ------------------------------------------------------------
def one_line(text) -> str:
    """`text` on one line: a compiler's or a learner's message may hold newlines."""
    return " ".join(str(text).split())


def say(line: str, stream=None) -> None:
    """Write one line to stderr (or `stream`) at once; a terminal that has gone away is no error.

    After SIGHUP the terminal may be closed already, and a write then fails
    with EIO: by then the only thing left to do is to clean up and exit.
    """
    stream = sys.stderr if stream is None else stream
    try:
        print(line, file=stream, flush=True)
    except (OSError, ValueError):  # ValueError: the stream was closed
        pass


# -- numbers typed on the command line ------------------------------------------------
def whole_number(text: str, option: str, *, low: int | None = None, high: int | None = None,
                 example: str, hint: str | None = None) -> int:
    """The text of `option` as a whole number from `low` to `high`, or a UsageError sentence.

    Only ASCII digits count: Python's int() takes '²' as a digit for isdigit()
    and then refuses it, and takes Arabic-Indic digits, which no one types in
    a port number on purpose.
    """
    digits = text[1:] if text[:1] == "-" and (low is None or low < 0) else text
    span = (f" from {low} to {high}" if low is not None and high is not None
            else f", {low} or more" if low is not None else "")
    advice = hint or f"for example {example}"
    if not (digits.isascii() and digits.isdigit()):
        raise UsageError(f"The option {option} takes a whole number{span}, but got {text!r}; {advice}.")
    try:
        value = int(text, 10)
    except ValueError:  # longer than int() reads (4300 digits)
        raise UsageError(f"The option {option} takes a whole number{span}, but got a number "
                         f"{len(text)} digits long; {advice}.") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise UsageError(f"The option {option} takes a whole number{span}, but got {text!r}; {advice}.")
    return value


# -- the package's sentences in the command line's words ----------------------------
# Each rule is (pattern, replacement), applied in order. The transport rules come
# first because "use transport='tcp'" is advice (drop a flag) while a bare
# "transport='udp'" only names what was asked for.
_TRANSPORT_RULES = (
    (r"\buse transport='tcp'", "drop --udp"),
    (r"\buse transport='udp'", "add --udp"),
    (r"\buse transport='unix(?:_dgram)?'", "add --unix PATH"),
    (r"\btransport='unix_dgram'", "--unix with --udp"),
    (r"\btransport='unix'", "--unix"),
    (r"\btransport='udp'", "--udp"),
    (r"\btransport='tcp'", "TCP"),
)
_PATH_RULES = (
    # The API makes a private temporary UNIX path when none is given; on the
    # command line, leaving out --unix means TCP, so that alternative goes.
    (r",? or leave (?:path=None|the path out)\b[^.;]*", ""),
    (r"\bleave (?:path=None|the path out)\b[^.;]*",
     "pass --unix a path in a folder that exists, such as /tmp/echo.sock"),
    # Advice to write a handler of one's own is for Python; a terminal picks a stock one.
    (r",? or write\b[^.;]*", ""),
)
# A value as the sentences spell it: 'quoted', a number, or a word (None, nan).
_VALUE = r"('[^']*'|\"[^\"]*\"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\w+)"


def option_words(message: str, *, options=("host", "port"), path: str | None = None, ms=()) -> str:
    """Reword a sentence written for Python callers ("use port=0") for the command line ("use --port 0").

    options: the keyword arguments that are options here, as `name` (the option
        --name, '_' read as '-') or as a dict {keyword: option}.
    path: the --unix PATH, if one was given, for "remove it with rm PATH".
    ms: the options given in milliseconds on the command line whose keyword
        arguments take seconds; their values are converted ("rto=0.05" is "--rto 50").
    A sentence with nothing to reword stays as it is.
    """
    flags = dict(options) if isinstance(options, dict) else {
        name: "--" + name.replace("_", "-") for name in options}
    flags.setdefault("path", "--unix")
    for pattern, replacement in _TRANSPORT_RULES + _PATH_RULES:
        message = re.sub(pattern, replacement, message)
    message = message.replace("os.unlink(path)", f"rm {shlex.quote(path)}" if path else "rm PATH")
    names = "|".join(sorted(map(re.escape, flags), key=len, reverse=True))
    # None is spelled by leaving the option out.
    message = re.sub(rf"\b(?:use|pass|set) ({names})=None\b", lambda m: f"leave {flags[m[1]]} out", message)
    message = re.sub(rf"\bleave ({names}) out\b", lambda m: f"leave {flags[m[1]]} out", message)

    def option(match) -> str:
        name, value, unit = match[1], match[2].strip("'\""), match[3] or ""
        if name in ms:
            try:
                value = f"{float(value) * 1000:g}"
                unit = ""  # "delay=0.05 (50 ms)": in milliseconds the parenthesis would repeat the number
            except ValueError:
                pass
        return f"{flags[name]} {shlex.quote(value)}{unit}"

    message = re.sub(rf"\b({names})={_VALUE}( \(\d+(?:\.\d+)? ms\))?", option, message)
    return message


# -- signals --------------------------------------------------------------------------
class StopSignals:
    """Turns SIGINT, SIGTERM and SIGHUP into a wake-up that the main thread waits for.

    The Python-level handler only notes the signal: anything that takes a lock
    (Event.set, print) could deadlock if the signal lands while the main thread
    holds that lock. The wake-up itself comes from `signal.set_wakeup_fd`,
    which the interpreter writes to as soon as a signal arrives.

    A signal that the process was started with ignored stays ignored: that is
    how `nohup python -m sockcourse serve echo &` asks to outlive its terminal.
    """

    def __init__(self, what: str = "serve"):
        self.what = what
        self.received: list[int] = []
        self._reader = self._writer = None
        self._old_handlers: dict = {}
        self._old_wakeup_fd = -1

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is not threading.main_thread():
            raise UsageError(
                f"The {self.what} command must run in the main thread, because only it receives "
                f"Ctrl-C; call sockcourse.{self.what}() instead when you are inside a program.")
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        try:
            self._old_wakeup_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
            for signum in STOP_SIGNALS:
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    self._old_handlers[signum] = signal.signal(signum, self._note)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _note(self, signum, frame) -> None:
        self.received.append(signum)

    def wait(self) -> int:
        """Block until a stop signal has arrived; return its number."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._reader, selectors.EVENT_READ)
            while not self.received:
                if selector.select(timeout=_WAIT_TICK):
                    self._drain()
        return self.received[0]

    def hold(self, thing, announce) -> Exception | None:
        """Run `announce()`, wait for a stop signal, then stop `thing` (a server, a link).

        `thing` is stopped whatever happens on the way, so a UNIX socket file
        or a key folder never outlives the command; what its stop() raised
        (a handler's error) is returned for the caller to word, not raised.
        """
        failure = None
        try:
            announce()
            self.wait()
        finally:
            try:
                thing.stop()
            except SockcourseError as exc:
                failure = exc
        return failure

    def _drain(self) -> None:
        try:
            while self._reader.recv(64):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def __exit__(self, exc_type, exc, tb) -> None:
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)
        self._old_handlers.clear()
        if self._writer is not None:
            signal.set_wakeup_fd(self._old_wakeup_fd)
        for sock in (self._reader, self._writer):
            if sock is not None:
                sock.close()
        self._reader = self._writer = None
