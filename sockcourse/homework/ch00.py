"""Chapter 00 homework (history): an ARPANET socket name, today's well-known ports, what a descriptor is.

q1 `aen(name)` and, next to it, `is_send_socket(number)`: the last 8 bits
   of a 40-bit RFC 433 socket name, whatever the host and the 24 site bits
   in front of them, and the direction of a socket number (RFC 147: odd
   numbers send, even ones receive), as a bool, for any number, not only
   for the well-known ones of RFC 433.
q2 `tcp_ports(names)`: each service name's TCP port from this system's
   services database, None where it has no TCP port (an unknown name, a
   service listed for UDP only), aliases included, a fresh dictionary for
   every call. The check reads /etc/services itself and compares.
q3 `kind_of(fd)`: "socket", "pipe" or "file" for a real descriptor of this
   process, from its link in /proc/self/fd: TCP and UNIX sockets, both ends
   of a pipe, files (one named like a socket's link), without closing or
   replacing the descriptor, and OSError for a number that is not open.

q1 checks two functions with one call, `check.q1(aen)`: it finds
`is_send_socket` beside it, in the globals of the module or notebook that
defined `aen` (core.Question checks one object only), as ch06's q1 does.

Nothing here needs a server: q2 reads a file, q3 opens real sockets, pipes
and files on loopback and in a private folder, and closes them again, but
only those that are still the ones it opened (a wrong answer may have closed
one, and its number may already belong to someone else).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket

from ..core.errors import describe
from .core import (HalfWritten, Question, failed, passed, plural, skipped, student_line, summary as _summary, text,
                   unless_stub)

try:
    import fcntl
except ImportError:  # Windows: q3 skips there anyway, for want of /proc
    fcntl = None

CHAPTER = "00_history"

#: The services database the check reads itself (services(5)); q2 skips where it is missing.
SERVICES = "/etc/services"
#: The folder of this process's open descriptors (proc_pid_fd(5)); q3 skips where it is missing.
PROC_FD = "/proc/self/fd"

#: RFC 433's well-known sockets (December 1972): AEN -> service.
RFC_433 = {1: "Telnet", 3: "File Transfer", 5: "Remote Job Entry", 7: "Echo", 9: "Discard",
           19: "Character Generator"}


def _each(function, values) -> list[tuple]:
    """[(value, True, result) or (value, False, error, where)] for every value, in one call of the check's.

    A NotImplementedError (or a HalfWritten) ends it at once: that is the stub
    speaking, not a mistake on one value.
    """
    found = []
    for value in values:
        try:
            found.append((value, True, function(value), ""))
        except (NotImplementedError, HalfWritten):
            raise
        except Exception as exc:  # noqa: BLE001 - the student's error on this value is what the report shows
            found.append((value, False, exc, student_line(exc.__traceback__)))
    return found


def _raised(what: str, error: BaseException, where: str) -> str:
    return f"{what} raised {describe(error)}" + (f" at {where}" if where else "")


# ====================================================================================
q1 = Question(CHAPTER, "q1", answer="aen", title="Read an ARPANET socket name", section="1")

q1.hint("last-8-bits",
        "The AEN is the last 8 bits of the 40-bit name, whatever the 8 bits of host and the 24 site-specific "
        "bits in front of it hold: name & 0xFF, or name % 256 (chapter 00, section 1 '1970: a socket is a "
        "number', under '1972: the first well-known numbers', where RFC 433 spells the name out).")
q1.hint("all-8-bits",
        "An AEN has 8 bits, so it runs from 0 to 255: keep all eight with 0xFF (or % 256). 0x7F keeps only "
        "seven, and every AEN from 128 up loses its top bit (chapter 00, section 1).")
q1.hint("int",
        "Return the AEN as a number, an int such as 7, not as text: hex(name)[-2:] is the str '07'. name & 0xFF "
        "is already an int.")
q1.hint("lowest-bit",
        "The lowest bit says the direction: odd socket numbers send, even ones receive (RFC 147, quoted in "
        "chapter 00, section 1 '1970: a socket is a number'). number % 2 == 1 is True exactly for the odd ones.")
q1.hint("bool",
        "is_send_socket answers a yes-or-no question: return True or False, a bool. number % 2 is the int 1 or "
        "0; number % 2 == 1 is the bool (chapter 00, section 1).")
q1.hint("any-odd",
        "Every odd socket number is a send socket, not only the well-known ones in RFC 433's list: decide by "
        "the lowest bit of the number itself, not by looking it up in a list (chapter 00, section 1).")
q1.hint("both-functions",
        "The check calls your is_send_socket(number) too: write it in its own answer cell, under exactly that "
        "name, and run that cell before the check.")


def _name(host: int, site: int, number: int) -> int:
    """An RFC 433 socket name: 8 bits of host, 24 site-specific bits, then the 8-bit AEN."""
    return host << 32 | site << 8 | number


def _spelled(name: int) -> str:
    return (f"aen({name:#012x}), the name of host {name >> 32}, site bits {name >> 8 & 0xFFFFFF:#08x} "
            f"and AEN {name & 0xFF}")


def _judge_aen(outcome, *, what: str, hint: str = "last-8-bits"):
    """The verdict on aen's answers to some names: each must be the name's last 8 bits, as an int."""
    if not outcome.returned:
        return failed(f"your aen {outcome.text()}", hint=hint, sent=what, expected="a number from 0 to 255")
    for name, ok, got, where in outcome.value:
        want = name & 0xFF
        service = f", {RFC_433[want]}'s socket" if want in RFC_433 else ""
        if not ok:
            return failed(_raised(f"aen({name:#012x})", got, where), hint=hint, sent=_spelled(name),
                          expected=f"{want}{service}")
        if isinstance(got, bool) or not isinstance(got, int):
            return failed(f"aen({name:#012x}) returned {type(got).__name__} {got!r}, not an int", hint="int",
                          sent=_spelled(name), expected=f"{want}{service}", got=repr(got))
        if got != want:
            return failed(f"aen({name:#012x}) returned {got}, but the name's AEN is {want}{service}",
                          hint="all-8-bits" if got == want & 0x7F else hint, sent=_spelled(name),
                          expected=str(want), got=str(got))
    return passed()


@q1.condition("rfc433", "RFC 433's six well-known sockets on one host")
def _(student, ctx):
    host = ctx.rng.randrange(256) if ctx.graded else 1
    names = [_name(host, 0, number) for number in RFC_433]
    return _judge_aen(ctx.call(_each, student, names),
                      what=f"the names of RFC 433's sockets {', '.join(map(str, RFC_433))} on host {host}")


@q1.condition("site-bits", "any host and any site bits in front: only the last 8 bits count")
def _(student, ctx):
    if ctx.graded:
        names = [_name(ctx.rng.randrange(256), ctx.rng.randrange(1 << 24), ctx.rng.choice(list(RFC_433)))
                 for _ in range(12)]
    else:
        names = [_name(host, site, number) for host in (0, 1, 255) for site in (0xC0FFEE, 0xFFFFFF)
                 for number in RFC_433]
    return _judge_aen(ctx.call(_each, student, names),
                      what=f"{plural(len(names), 'name')} with hosts from 0 to 255 and site bits set")


@q1.condition("aen-high", "AENs from 128 to 255: all 8 bits", graded_only=True)
def _(student, ctx):
    names = [_name(ctx.rng.randrange(256), ctx.rng.randrange(1 << 24), ctx.rng.randrange(128, 256))
             for _ in range(10)]
    return _judge_aen(ctx.call(_each, student, names), what="10 names whose AEN is 128 or more")


def _partner(student):
    """The is_send_socket defined beside the student's aen, or None."""
    found = getattr(student, "__globals__", {}).get("is_send_socket")
    return found if callable(found) else None


def _judge_direction(student, ctx, numbers: list[int], *, what: str):
    """The verdict on is_send_socket's answers: True for the odd numbers, False for the even ones, as bools."""
    partner = _partner(student)
    if partner is None:
        return failed("there is no function is_send_socket next to your aen", hint="both-functions",
                      expected="def is_send_socket(number): ... in the notebook, beside aen")
    outcome = ctx.call(_each, unless_stub(partner), numbers)
    if outcome.raised and isinstance(outcome.error, HalfWritten):
        return failed("your is_send_socket still raises NotImplementedError", hint="both-functions", sent=what,
                      expected="True for odd numbers, False for even ones")
    if not outcome.returned:
        return failed(f"your is_send_socket {outcome.text()}", hint="lowest-bit", sent=what,
                      expected="True or False")
    wrong = []
    for number, ok, got, where in outcome.value:
        want = number % 2 == 1
        if not ok:
            return failed(_raised(f"is_send_socket({number})", got, where), hint="lowest-bit", sent=what,
                          expected=str(want))
        if got is not want:
            wrong.append((number, want, got))
    if not wrong:
        return passed()
    number, want, got = wrong[0]
    side = "odd, so it sends" if want else "even, so it receives"
    service = f"{RFC_433[number]}'s socket {number}" if number in RFC_433 else f"{number:,}"
    message = f"is_send_socket({number}) returned {got!r}, but {service} is {side}"
    if not isinstance(got, bool) and got == want:
        return failed(message, hint="bool", sent=what, expected=repr(want), got=f"{type(got).__name__} {got!r}")
    if all(w and n not in RFC_433 for n, w, _ in wrong):
        return failed(message, hint="any-odd", sent=what, expected="True", got=repr(got))
    return failed(message, hint="lowest-bit", sent=what, expected=repr(want), got=repr(got))


@q1.condition("send", "odd sockets send: True for RFC 433's sockets")
def _(student, ctx):
    numbers = list(RFC_433)
    if ctx.graded:
        ctx.rng.shuffle(numbers)
    return _judge_direction(student, ctx, numbers, what=f"is_send_socket() of {', '.join(map(str, numbers))}")


@q1.condition("receive", "even sockets receive: False for 0, 2, 6, 88 and 2**32 - 2")
def _(student, ctx):
    numbers = [0, 2, 6, 88, 2 ** 32 - 2]
    if ctx.graded:
        numbers += [2 * ctx.rng.randrange(1 << 31) for _ in range(5)]
    return _judge_direction(student, ctx, numbers, what=f"is_send_socket() of {', '.join(map(str, numbers))}")


@q1.condition("any-number", "any 32-bit socket number, odd or even, not only the well-known ones",
              graded_only=True)
def _(student, ctx):
    numbers = list(RFC_433) + [ctx.rng.randrange(1 << 32) | 1 for _ in range(8)] + \
        [ctx.rng.randrange(1 << 32) & ~1 for _ in range(8)]
    ctx.rng.shuffle(numbers)
    return _judge_direction(student, ctx, numbers, what=f"is_send_socket() of {plural(len(numbers), 'number')} "
                                                        f"from 0 to 2**32 - 1, odd and even")


# ====================================================================================
class _AskingQuestion(Question):
    """A Question that remembers, for one check, every name its conditions asked the student's function about.

    A dictionary made once, outside the function, shows itself in a later
    condition as names nobody asked for there, but that an earlier condition
    did ask for; the report can then give the hint that helps ("fresh").
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: set = set()

    def run(self, obj, **options):
        self.asked = set()
        try:
            return super().run(obj, **options)
        finally:
            self.asked = set()


q2 = _AskingQuestion(CHAPTER, "q2", answer="tcp_ports", title="Look well-known ports up in the services database",
                     section="2")

q2.hint("getservbyname",
        "Ask the services database with socket.getservbyname(name, 'tcp'), one call per name, and store the "
        "port it returns (chapter 00, section 2 '1974 to 1983: TCP arrives', under 'Well-known numbers, then "
        "and now').")
q2.hint("catch-oserror",
        "getservbyname() raises OSError for a name the database has no TCP port for. Catch it, around that one "
        "call, and store None for that name: every name gets an entry, and the other names still get their "
        "ports (chapter 00, section 2, under 'Well-known numbers, then and now').")
q2.hint("tcp-only",
        "Ask for TCP: socket.getservbyname(name, 'tcp'). Without the protocol it answers for whichever protocol "
        "the database lists first, UDP included, and a service listed for UDP only has no TCP port: None "
        "(services(5)).")
q2.hint("int",
        "Store the port as the int that getservbyname() returns, such as 7, not as text: '7' is no port "
        "number.")
q2.hint("dict",
        "Return a dictionary with one entry per name asked for, the name as its key: {'echo': 7, 'smtp': 25, "
        "'no-such-service': None}; for no names at all, the empty dictionary {}.")
q2.hint("aliases",
        "A service may have other names, its aliases, written after its port in /etc/services (services(5)): "
        "'mail' is smtp's. getservbyname() knows them; a table of your own, or a reading of the file's first "
        "column only, does not.")
q2.hint("fresh",
        "Start a new dictionary in every call, inside the function: a dictionary made once, outside it, keeps "
        "the names of the calls before, and the answer then holds names nobody asked for.")


@dataclasses.dataclass
class Database:
    """The check's own reading of the services database: what getservbyname(name, 'tcp') should say."""

    #: name or alias -> (TCP port, line number), the first line that gives it, as the C library takes it.
    tcp: dict
    #: name or alias -> (port, protocol, line number) of its first line for another protocol.
    other: dict
    #: alias -> the service it names: the names written after the port on a TCP line, and first on none.
    aliases: dict

    @property
    def udp_only(self) -> list[str]:
        """The names the database lists for UDP and never for TCP."""
        return sorted(name for name, (_, proto, _) in self.other.items() if proto == "udp" and name not in self.tcp)

    def port(self, name: str):
        found = self.tcp.get(name)
        return None if found is None else found[0]

    def says(self, name: str) -> str:
        """Where the check's expectation for `name` comes from, for a report."""
        if name in self.tcp:
            port, line = self.tcp[name]
            return f"{port} ({SERVICES}, line {line})"
        if name in self.other:
            port, proto, line = self.other[name]
            return f"None: {SERVICES} lists {name!r} only for {proto.upper()} (line {line}: {port}/{proto})"
        return f"None: {SERVICES} does not know {name!r}"


def services_file(path: str | None = None) -> Database | None:
    """Read the services database line by line, as services(5) describes it; None if it is missing."""
    path = path or SERVICES
    tcp, other, aliases, first = {}, {}, {}, set()
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                fields = line.split("#", 1)[0].split()
                if len(fields) < 2 or "/" not in fields[1]:
                    continue
                port, _, proto = fields[1].partition("/")
                if not port.isdigit():
                    continue
                for name in [fields[0], *fields[2:]]:
                    if proto == "tcp":
                        tcp.setdefault(name, (int(port), number))
                    else:
                        other.setdefault(name, (int(port), proto, number))
                if proto == "tcp":
                    first.add(fields[0])
                    for name in fields[2:]:
                        aliases.setdefault(name, fields[0])
    except FileNotFoundError:
        return None
    return Database(tcp, other, {name: of for name, of in aliases.items() if name not in first})


def _database():
    """(the database, None), or (None, the skipped verdict) where this system has none."""
    found = services_file()
    if found is None:
        return None, skipped(f"This system has no {SERVICES}, the services database this check compares your "
                             f"answer with, so it cannot run here.")
    return found, None


def _unknown(ctx, db: Database) -> str:
    """A made-up service name that the database does not hold."""
    name = "no-such-service-00"
    for _ in range(100):
        if ctx.graded:
            name = f"no-such-service-{ctx.rng.randrange(100, 100_000)}"
        if name not in db.tcp and name not in db.other:
            return name
        name = f"no-such-service-{ctx.rng.randrange(100, 100_000)}"
    return f"no such service {ctx.rng.randrange(10 ** 9)}"  # a space: no services(5) name has one


def _judge_ports(got, names: list[str], db: Database, *, sent: str, before=()):
    """The verdict on one dictionary tcp_ports returned for `names`; `before`: the names asked in earlier calls."""
    expected = {name: db.port(name) for name in names}
    if not isinstance(got, dict):
        return failed(f"tcp_ports returned {type(got).__name__} {text(got)}, not a dictionary", hint="dict",
                      sent=sent, expected=text(expected), got=text(got))
    for name in dict.fromkeys(names):
        want = expected[name]
        if name not in got:
            return failed(f"your dictionary has no entry for {name!r}", hint="dict" if want is not None
                          else "catch-oserror", sent=sent, expected=f"{name!r}: {db.says(name)}", got=text(got))
        have = got[name]
        if have == want and type(have) is type(want):
            continue
        message = f"for {name!r} your dictionary holds {have!r}, but the services database says {want!r}"
        evidence = dict(sent=sent, expected=f"{name!r}: {db.says(name)}", got=f"{name!r}: {have!r}")
        if want is None:
            if name in db.other and have == db.other[name][0]:
                return failed(f"for {name!r} your dictionary holds {have!r}, its {db.other[name][1].upper()} port; "
                              f"it has no TCP port", hint="tcp-only", **evidence)
            return failed(message, hint="catch-oserror", **evidence)
        if str(have) == str(want):
            return failed(f"for {name!r} your dictionary holds the {type(have).__name__} {have!r}, not the int "
                          f"{want}", hint="int", **evidence)
        if have is None and name in db.aliases:
            return failed(f"{message}: {name!r} is an alias of {db.aliases[name]!r}", hint="aliases", **evidence)
        return failed(message, hint="getservbyname", **evidence)
    extra = [name for name in got if name not in expected]
    if extra:
        earlier = set(before) | q2.asked
        return failed(f"your dictionary holds {plural(len(extra), 'name')} that {'was' if len(extra) == 1 else 'were'}"
                      f" not asked for: {text(extra)}", sent=sent,
                      hint="fresh" if all(name in earlier for name in extra) else "dict",
                      expected=f"exactly the keys {text(list(dict.fromkeys(names)))}", got=text(got))
    return passed()


def _ask(student, ctx, names: list[str], db: Database):
    outcome = ctx.call(student, list(names))
    verdict = _judge_outcome(outcome, names, db)
    q2.asked.update(names)
    return verdict


def _judge_outcome(outcome, names: list[str], db: Database):
    sent = f"tcp_ports({names!r})"
    if outcome.raised:
        return failed(f"your tcp_ports {outcome.text()}", sent=sent, hint="catch-oserror"
                      if isinstance(outcome.error, OSError) else "getservbyname",
                      expected=text({name: db.port(name) for name in names}))
    if not outcome.returned:
        return failed(f"your tcp_ports {outcome.text()}", hint="getservbyname", sent=sent,
                      expected=text({name: db.port(name) for name in names}))
    return _judge_ports(outcome.value, names, db, sent=sent)


def _some(ctx, names: list[str], count: int) -> list[str]:
    return ctx.rng.sample(names, min(count, len(names)))


@q2.condition("known", "echo, discard, smtp and telnet: the ports the database gives")
def _(student, ctx):
    db, skip = _database()
    if skip:
        return skip
    names = ["echo", "discard", "smtp", "telnet"]
    if ctx.graded:
        names = ["echo"] + _some(ctx, sorted(set(db.tcp) - set(db.aliases) - {"echo"}), 5)
    return _ask(student, ctx, names, db)


@q2.condition("unknown", "a name the database does not know: None, and the others still right")
def _(student, ctx):
    db, skip = _database()
    if skip:
        return skip
    names = ["echo", _unknown(ctx, db), "discard"]
    return _ask(student, ctx, names, db)


#: Services many databases list for UDP only; the public check asks for the first two this one has.
UDP_FAVOURITES = ("tftp", "bootps", "syslog", "who", "talk")


@q2.condition("udp-only", "a service listed for UDP only: no TCP port, so None")
def _(student, ctx):
    db, skip = _database()
    if skip:
        return skip
    udp = db.udp_only
    if not udp:
        return skipped(f"This system's {SERVICES} lists no service for UDP alone, so there is nothing to ask here.")
    picked = _some(ctx, udp, 3) if ctx.graded else ([n for n in UDP_FAVOURITES if n in udp] + udp)[:2]
    return _ask(student, ctx, ["echo", *picked], db)


def _twice(student, first: list[str], second: list[str]):
    """Two calls, one after the other; the first answer copied before the second call can change it."""
    one = student(list(first))
    kept = dict(one) if isinstance(one, dict) else one
    return kept, student(list(second))


@q2.condition("two-calls", "two calls: each answer holds its own names only")
def _(student, ctx):
    db, skip = _database()
    if skip:
        return skip
    first, second = ["echo", "smtp"], ["discard", "telnet"]
    if ctx.graded:
        pool = _some(ctx, sorted(db.tcp), 8)
        first, second = pool[:4], pool[4:]
    outcome = ctx.call(_twice, student, first, second)
    sent = f"tcp_ports({first!r}), then tcp_ports({second!r})"
    if not outcome.returned:
        return failed(f"your tcp_ports {outcome.text()}", sent=sent, hint="catch-oserror"
                      if outcome.raised and isinstance(outcome.error, OSError) else "getservbyname")
    one, two = outcome.value
    verdict = _judge_ports(one, first, db, sent=f"tcp_ports({first!r})")
    if verdict.passed:
        verdict = _judge_ports(two, second, db, sent=sent, before=first)
    q2.asked.update(first + second)
    return verdict


@q2.condition("aliases", "aliases, such as smtp's 'mail', give their service's port", graded_only=True)
def _(student, ctx):
    db, skip = _database()
    if skip:
        return skip
    if not db.aliases:
        return skipped(f"This system's {SERVICES} gives no service an alias, so there is nothing to ask here.")
    picked = _some(ctx, sorted(db.aliases), 4)
    return _ask(student, ctx, ["smtp", *picked], db)


@q2.condition("many", "30 names from the database, repeats and an unknown one; then no names at all",
              graded_only=True)
def _(student, ctx):
    db, skip = _database()
    if skip:
        return skip
    names = _some(ctx, sorted(db.tcp), 26) + _some(ctx, db.udp_only, 1) + [_unknown(ctx, db)]
    names += ctx.rng.sample(names, 2)
    ctx.rng.shuffle(names)
    outcome = ctx.call(lambda: (student(list(names)), student([])))
    sent = f"tcp_ports() of {plural(len(names), 'name')} (2 of them twice), then tcp_ports([])"
    if not outcome.returned:
        return failed(f"your tcp_ports {outcome.text()}", sent=sent, hint="catch-oserror"
                      if outcome.raised and isinstance(outcome.error, OSError) else "getservbyname")
    many, none = outcome.value
    verdict = _judge_ports(many, names, db, sent=f"tcp_ports({text(names)})")
    q2.asked.update(names)
    if not verdict.passed:
        return verdict
    if none != {} or not isinstance(none, dict):
        return failed(f"tcp_ports([]) returned {none!r}", hint="dict", sent="tcp_ports([])", expected="{}",
                      got=repr(none))
    return passed()


# ====================================================================================
q3 = Question(CHAPTER, "q3", answer="kind_of", title="What a descriptor stands for", section="3")

q3.hint("readlink",
        "Each open descriptor fd of this process is a link in /proc/self/fd: os.readlink(f'/proc/self/fd/{fd}') "
        "reads it, 'socket:[12345]' for a socket, 'pipe:[12346]' for a pipe, the path for a file (chapter 00, "
        "section 3 '1983: Berkeley makes a socket a file'; proc_pid_fd(5)).")
q3.hint("words",
        "Return one of the three words 'socket', 'pipe' or 'file', exactly: the link ('socket:[12345]') is what "
        "you read, not what you return.")
q3.hint("how-it-starts",
        "Look at how the link starts: the kernel writes the kind, then a colon, for what has no path, "
        "'socket:[...]' and 'pipe:[...]'; a file's link is its path, which starts with '/' (chapter 00, "
        "section 3 '1983: Berkeley makes a socket a file').")
q3.hint("starts-not-contains",
        "Test how the link starts, link.startswith('socket:'), not whether it contains the word somewhere: a "
        "file's path may hold 'socket' or 'pipe' too, like /tmp/notes/socket:[1234].")
q3.hint("keep-open",
        "Only look at the descriptor: the caller owns it. Do not close it, and do not wrap it in an object of "
        "your own, socket.socket(fileno=fd) or os.fdopen(fd), which closes it when that object goes away; "
        "os.readlink() reads the link and leaves the descriptor alone.")
q3.hint("oserror",
        "For a number that is not an open descriptor there is no link: os.readlink() raises OSError "
        "(FileNotFoundError). Let it propagate; guessing a kind for a descriptor that does not exist hides the "
        "caller's mistake.")


def _identity(fd: int):
    """What a descriptor stands for now (device, inode, access mode), or None if it is not open."""
    try:
        found = os.fstat(fd)
        mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE if fcntl is not None else None
    except OSError:
        return None
    return found.st_dev, found.st_ino, mode


@dataclasses.dataclass
class _Item:
    what: str
    kind: str
    fd: int
    identity: tuple
    thing: object  # a socket, or the int of a raw descriptor


class _Opened:
    """The descriptors one condition opens for the student's function to look at, owned by the condition.

    At the end it closes each one only if it still stands for what was
    opened: a wrong answer may have closed one already, and the kernel may
    have given its number to someone else since, whom closing it would hurt.
    """

    def __init__(self, folder: str):
        self.folder = os.path.realpath(folder)
        self.items: list[_Item] = []

    def add(self, what: str, kind: str, thing) -> _Item:
        fd = thing if isinstance(thing, int) else thing.fileno()
        item = _Item(what, kind, fd, _identity(fd), thing)
        self.items.append(item)
        return item

    def file(self, what: str, name: str, flags: int = os.O_RDWR | os.O_CREAT) -> _Item:
        return self.add(what, "file", os.open(os.path.join(self.folder, name), flags, 0o600))

    def link(self, item: _Item) -> str:
        """The item's link as the kernel shows it, the private folder's name shortened for the report."""
        try:
            return os.readlink(os.path.join(PROC_FD, str(item.fd))).replace(self.folder, "<temporary folder>")
        except OSError:
            return "(no link: the descriptor is not open)"

    def changed(self) -> list[_Item]:
        return [item for item in self.items if _identity(item.fd) != item.identity]

    def stop(self, timeout: float | None = None) -> None:
        """Close what is still ours (also at a deadline: it wakes a student's read on one of them)."""
        for item in reversed(self.items):
            mine = _identity(item.fd) == item.identity
            if isinstance(item.thing, socket.socket):
                if mine:
                    with contextlib.suppress(OSError):  # a listener has no connection to shut down
                        item.thing.shutdown(socket.SHUT_RDWR)  # wakes a recv() close() alone would not
                    item.thing.close()
                else:
                    item.thing.detach()  # forget the number without closing it: it is no longer ours
            elif mine:
                os.close(item.fd)
        self.items.clear()

    close = stop


def _opened(ctx) -> _Opened:
    return ctx.own(_Opened(ctx.tmpdir))


def _no_proc():
    if os.path.isdir(PROC_FD):
        return None
    return skipped(f"This question needs Linux's {PROC_FD}, which this system does not have, so it cannot run here.")


def _tcp(opened: _Opened, *, listening: bool = True) -> tuple[socket.socket, socket.socket]:
    """A connection on loopback, port 0, both ends in `opened` (and its listener too, if `listening`)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if listening:
        opened.add("a listening TCP socket", "socket", listener)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname(), timeout=2.0)
        opened.add("a connected TCP socket", "socket", client)
        server, _ = listener.accept()
        server.settimeout(2.0)
        opened.add("the other end of that TCP connection", "socket", server)
    finally:
        if not listening:
            listener.close()
    return client, server


def _pipe(opened: _Opened) -> tuple[int, int]:
    read_end, write_end = os.pipe()
    opened.add("a pipe's read end", "pipe", read_end)
    opened.add("a pipe's write end", "pipe", write_end)
    return read_end, write_end


def _kinds(student, ctx, opened: _Opened, *, what: str, hint: str):
    """Ask kind_of about every descriptor `opened` holds, in one call; compare with what each one is."""
    items = list(opened.items)
    if ctx.graded:
        ctx.rng.shuffle(items)
    outcome = ctx.call(_each, student, [item.fd for item in items])
    if not outcome.returned:
        return failed(f"your kind_of {outcome.text()}", hint="readlink", sent=what,
                      expected=", ".join(repr(item.kind) for item in items))
    for item, (fd, ok, got, where) in zip(items, outcome.value):
        sent = f"kind_of({fd}), where {fd} is {item.what}"
        link = opened.link(item)
        if not ok:
            return failed(_raised(f"kind_of({fd})", got, where), hint="readlink", sent=sent,
                          expected=repr(item.kind), link=link)
        if got == item.kind:
            continue
        message = f"kind_of({fd}) on {item.what} returned {got!r}, expected {item.kind!r}"
        if not isinstance(got, str) or got not in ("socket", "pipe", "file"):
            chosen = "words"  # the link itself, a piece of it, another spelling, or nothing
        else:
            chosen = hint
        return failed(message, hint=chosen, sent=sent, expected=repr(item.kind), got=repr(got), link=link)
    return passed(f"{plural(len(items), 'descriptor')}, each named rightly")


@q3.condition("sockets", "TCP sockets (listening and connected) and a UNIX socket pair: 'socket'")
def _(student, ctx):
    if skip := _no_proc():
        return skip
    opened = _opened(ctx)
    _tcp(opened)
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    opened.add("one end of a UNIX socket pair", "socket", left)
    opened.add("the other end of that UNIX socket pair", "socket", right)
    return _kinds(student, ctx, opened, what="three TCP sockets and a UNIX socket pair", hint="how-it-starts")


@q3.condition("pipe", "both ends of a pipe: 'pipe'")
def _(student, ctx):
    if skip := _no_proc():
        return skip
    opened = _opened(ctx)
    _pipe(opened)
    if ctx.graded:
        _pipe(opened)
    return _kinds(student, ctx, opened, what="both ends of a pipe from os.pipe()", hint="how-it-starts")


@q3.condition("file", "a file, open for reading and for writing: 'file'")
def _(student, ctx):
    if skip := _no_proc():
        return skip
    opened = _opened(ctx)
    name = f"notes-{ctx.rng.randrange(1000)}.txt" if ctx.graded else "notes.txt"
    opened.file("a file open for writing", name)
    opened.file("the same file open again, for reading", name, os.O_RDONLY)
    return _kinds(student, ctx, opened, what=f"a file, {name}, open twice", hint="how-it-starts")


@q3.condition("kept-open", "each descriptor is still open, and still the same, afterwards")
def _(student, ctx):
    if skip := _no_proc():
        return skip
    opened = _opened(ctx)
    client, server = _tcp(opened, listening=False)
    read_end, write_end = _pipe(opened)
    notes = opened.file("a file", "kept.txt").fd
    os.write(notes, b"still here")
    items = list(opened.items)
    outcome = ctx.call(_each, student, [item.fd for item in items])
    what = "kind_of() of a TCP connection's two ends, a pipe's two ends and a file, then a look at each"
    if not outcome.returned:
        return failed(f"your kind_of {outcome.text()}", hint="readlink", sent=what)
    for item in opened.changed():
        now = "is closed" if _identity(item.fd) is None else "stands for something else now"
        return failed(f"after kind_of({item.fd}) on {item.what}, descriptor {item.fd} {now}", hint="keep-open",
                      sent=what, expected=f"descriptor {item.fd} open, still {item.what}", got=opened.link(item))
    # The same numbers, and they still work: bytes cross the connection and the pipe, the file reads back.
    client.sendall(b"x")
    os.write(write_end, b"y")
    if server.recv(1) != b"x" or os.read(read_end, 1) != b"y" or os.pread(notes, 10, 0) != b"still here":
        return failed("a descriptor no longer carries what it carried before kind_of looked at it",
                      hint="keep-open", sent=what, expected="the connection, the pipe and the file still working")
    return passed()


@q3.condition("named-like", "files named like a socket's or a pipe's link, and /dev/null: 'file'", graded_only=True)
def _(student, ctx):
    if skip := _no_proc():
        return skip
    opened = _opened(ctx)
    opened.file("a file named like a socket's link", f"socket:[{ctx.rng.randrange(10 ** 5, 10 ** 6)}]")
    opened.file("a file named like a pipe's link", f"pipe:[{ctx.rng.randrange(10 ** 5, 10 ** 6)}]")
    opened.add(f"{os.devnull}, open for reading", "file", os.open(os.devnull, os.O_RDONLY))
    return _kinds(student, ctx, opened, what="two files named 'socket:[...]' and 'pipe:[...]', and /dev/null",
                  hint="starts-not-contains")


@q3.condition("closed", "a number that is no open descriptor: OSError", graded_only=True)
def _(student, ctx):
    if skip := _no_proc():
        return skip
    for _ in range(50):  # a high number is free unless this process holds thousands of descriptors
        fd = ctx.rng.randrange(3000, 9000)
        if _identity(fd) is None:
            break
    else:
        return skipped("This process holds so many descriptors that the check found no free number to ask about.")
    outcome = ctx.call(student, fd)
    sent = f"kind_of({fd}), where {fd} is not an open descriptor of this process"
    if outcome.raised and isinstance(outcome.error, OSError):
        return passed(f"raised {type(outcome.error).__name__}")
    if outcome.raised:
        return failed(f"your kind_of {outcome.text()}", hint="oserror", sent=sent, expected="OSError",
                      got=type(outcome.error).__name__)
    if outcome.returned:
        return failed(f"your kind_of returned {outcome.value!r} for a descriptor that does not exist",
                      hint="oserror", sent=sent, expected="OSError", got=repr(outcome.value))
    return failed(f"your kind_of {outcome.text()}", hint="oserror", sent=sent, expected="OSError")


QUESTIONS = [q1, q2, q3]


def summary(namespace: dict):
    """The last cell of the homework: every question checked again, one line each."""
    return _summary(QUESTIONS, namespace)
