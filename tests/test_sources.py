"""Links and sources in the notebooks: one canonical address each, and every RFC a chapter names is in its sources list.

What is checked, in every chapter notebook (`notebooks/NN_*.ipynb`), every
homework student copy (`notebooks/homework/`) and every homework source
(`homework-source/`): the markdown and code of each cell, and the text its
stored outputs show (a table printed by the package counts, because the
learner reads it).

1. Links. An RFC is linked as `https://www.rfc-editor.org/rfc/rfcN`, with at
   most an anchor `#section-X.Y` or `#appendix-X.Y` (no `.html`, no
   tools.ietf.org, datatracker or ietf.org/rfc/rfcN.txt, no `http://`); the
   RFC Editor's home page `https://www.rfc-editor.org/` may be linked as it is.
   A Linux man page is `https://man7.org/linux/man-pages/manS/NAME.S.html`,
   the section of the folder and of the file agreeing (`man3/size_t.3type`
   and `man3/x.3p` agree: the file may add letters to the folder's digit).
   Man pages from other systems are accepted only from their own projects:
   FreeBSD `https://man.freebsd.org/cgi/man.cgi?query=NAME&sektion=S`,
   OpenBSD `https://man.openbsd.org/NAME.S`, NetBSD `https://man.netbsd.org/NAME.S`,
   and OpenSSL's manual `https://docs.openssl.org/V/manS/NAME/` (OpenSSL's
   commands are not Linux man pages and man7.org does not carry them). Mirrors
   (die.net, manpages.debian.org, man.cx, ...) are refused. Python's
   documentation is `https://docs.python.org/3/...`, and an anchor that names an
   object (`#socket.socket.fileno`) must name one that exists in this Python.
   A markdown link whose text names the target must agree with it:
   `[RFC 793](...rfc9293)`, `[RFC 9110, section 4.3.4](...#section-4.3)` and
   `[recv(2)](.../send.2.html)` are wrong.
2. Sources. Every chapter has a sources list: a markdown paragraph that starts
   with `**Sources.**` (how chapters 00 to 06 do it) or a heading "Sources" and
   what follows it up to the next heading. The rule is strict, with no exception
   for a passing mention: every RFC the chapter names anywhere ("RFC 9293",
   "RFCs 33 and 147", a link to rfc793, an identifier such as `rfc33_bits`, a
   printed table) is named in that list, and every RFC the list names is linked
   there. A passing mention is exactly where a learner needs to find the
   document again, and listing it costs a few words.
   A homework notebook has no sources list of its own; there an RFC must be
   linked in the cell that names it, or be in its chapter's sources list.

The checker is tried first on small made-up notebooks that break each rule
(a tools.ietf.org link, a man page whose sections disagree, an RFC named but
not listed, ...) and on ones that keep them, so a rule that could never fail,
or one that fails everything, would show here.
"""

from __future__ import annotations

import html
import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
HOMEWORK = sorted((REPO / "notebooks" / "homework").glob("[0-9][0-9]_*.ipynb")) + sorted(
    (REPO / "homework-source").glob("[0-9][0-9]_*.ipynb"))

#: Chapters that must exist, so that a wrong glob cannot make every test pass on nothing.
EXPECTED_CHAPTERS = {"00_history", "01_tcp", "02_udp", "03_unix", "04_async", "05_tls", "06_languages"}

RFC_HOME = "https://www.rfc-editor.org/"
RFC_CANONICAL = re.compile(r"https://www\.rfc-editor\.org/rfc/rfc([1-9]\d*)"
                           r"(#(?:section-\d+|appendix-[A-Z])(?:\.\d+)*)?")
#: Hosts whose links are RFC links whatever their path, and the path shapes that give an RFC away elsewhere.
RFC_HOSTS = {"rfc-editor.org", "www.rfc-editor.org", "tools.ietf.org", "datatracker.ietf.org", "ietf.org",
             "www.ietf.org"}
RFC_PATH = re.compile(r"(?i)/rfcs?/|/rfc\d+(?:\.(?:txt|html?|pdf))?$")

MAN7 = re.compile(r"https://man7\.org/linux/man-pages/man(\d)/([\w.+:-]+?)\.(\d[a-z]*)\.html(?:#[\w-]+)?")
#: The official man pages of other systems: a pattern with the groups name and section.
OTHER_MAN = {
    "FreeBSD": re.compile(r"https://man\.freebsd\.org/cgi/man\.cgi\?query=(?P<name>[\w.+:-]+)"
                          r"&sektion=(?P<section>\d[a-z]*)(?:&[\w=.+-]+)*"),
    "OpenBSD": re.compile(r"https://man\.openbsd\.org/(?P<name>[\w.+:-]+)\.(?P<section>\d[a-z]*)"),
    "NetBSD": re.compile(r"https://man\.netbsd\.org/(?P<name>[\w.+:-]+)\.(?P<section>\d[a-z]*)"),
    "OpenSSL": re.compile(r"https://docs\.openssl\.org/(?:\d+\.\d+|master)/man(?P<section>\d)/(?P<name>[\w.+-]+)/"),
}
#: Sites that serve nothing but man pages; a link to one of them, or any link whose path looks like a
#: man page's, must match MAN7 or OTHER_MAN.
MAN_HOSTS = {"man7.org", "www.man7.org", "linux.die.net", "manpages.debian.org", "manpages.ubuntu.com", "man.cx",
             "manned.org", "man.archlinux.org", "man.freebsd.org", "man.openbsd.org", "man.netbsd.org",
             "man.bsd.lv", "man.he.net", "man.voidlinux.org"}
MAN_PATH = re.compile(r"(?i)man-pages?|man\.cgi|/man\d[a-z]*/|/man/\d")

PYTHON_DOCS_HOSTS = {"docs.python.org", "python.readthedocs.io"}
PYTHON_DOCS = re.compile(r"https://docs\.python\.org/3/[\w./-]*(?:#[\w.-]+)?")

#: A URL with its scheme, and the hosts this test cares about written without one.
URL = re.compile(r"https?://[^\s<>()\[\]{}\"'`\\|]+", re.I)
BARE_URL = re.compile(r"(?<![\w./:@-])(?:www\.)?(?:tools\.ietf\.org|datatracker\.ietf\.org|ietf\.org|rfc-editor\.org"
                      r"|man7\.org|linux\.die\.net|docs\.python\.org)/[^\s<>()\[\]{}\"'`\\|]*", re.I)
MARKDOWN_LINK = re.compile(r"\[([^\[\]]+)\]\(\s*<?([^\s()<>]+)>?(?:\s+\"[^\"]*\")?\s*\)")

#: "RFC 9293", "RFC793", "rfc-9293", "rfc/rfc793", "rfc33_bits"; and the lists "RFCs 33, 147 and 349".
RFC_NAMED = re.compile(r"(?i)\brfc[\s_-]?(\d{1,5})(?!\d)")
RFC_LIST = re.compile(r"(?i)\bRFCs\s+(\d{1,5}(?:(?:\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+)\d{1,5})*)")
SECTION_NAMED = re.compile(r"\b(?:[Ss]ection\s+(?P<section>\d+)|[Aa]ppendix\s+(?P<appendix>[A-Z]))"
                           r"(?P<tail>(?:\.\d+)*)\b")
MAN_NAMED = re.compile(r"^`?([\w.+:-]+)\((\d[a-z]*)\)`?$")
SOURCES_PARAGRAPH = re.compile(r"^\s*\*\*Sources\.?\*\*")
SOURCES_HEADING = re.compile(r"^#{1,6}\s+Sources\b", re.I)
HEADING = re.compile(r"^#{1,6}\s")


# -- the text a learner sees -------------------------------------------------

@dataclass(frozen=True)
class Text:
    """One piece of a notebook: a cell's source or one of its outputs, and where it stands."""

    cell: int
    where: str     # "cell 3 (markdown)", "output of cell 7"
    text: str


def notebook_texts(nb) -> list[Text]:
    """Every cell's source and the text of every stored output, in order."""
    texts = []
    for index, cell in enumerate(nb.cells):
        texts.append(Text(index, f"cell {index} ({cell.cell_type})", _joined(cell.source)))
        for output in cell.get("outputs", []):
            shown = []
            if output.get("output_type") == "stream":
                shown.append(_joined(output.get("text", "")))
            for mime, value in output.get("data", {}).items():
                if mime in ("text/plain", "text/markdown", "text/latex"):
                    shown.append(_joined(value))
                elif mime == "text/html":
                    shown.append(html.unescape(_joined(value)))
            if any(shown):
                texts.append(Text(index, f"output of cell {index}", "\n".join(shown)))
    return texts


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def read(path: Path):
    return nbformat.read(path, as_version=4)


def name_of(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


# -- rule 1: canonical links -------------------------------------------------

def urls_in(text: str) -> list[str]:
    """The URLs of a text, with or without a scheme, without the punctuation that ends a sentence."""
    found = [m.group(0) for m in URL.finditer(text)]
    found += [m.group(0) for m in BARE_URL.finditer(text)]
    return [url.rstrip(".,;:!?*_") for url in found]


def rfc_number(url: str) -> str | None:
    match = re.search(r"(?i)rfc(\d+)", url)
    return str(int(match.group(1))) if match else None


def link_problems(url: str) -> list[str]:
    """What is wrong with one URL, each problem a sentence with the address to use instead; [] if nothing."""
    parts = urlsplit(url if "://" in url else "https://" + url)
    host, path = (parts.hostname or "").lower(), parts.path
    if host in RFC_HOSTS or (RFC_PATH.search(path) and host not in MAN_HOSTS | PYTHON_DOCS_HOSTS):
        if url == RFC_HOME or RFC_CANONICAL.fullmatch(url):
            return []
        number = rfc_number(url)
        anchor = re.search(r"(?i)(?:#|section-|sec-)(\d+(?:\.\d+)*)", parts.fragment or path.split("/")[-1])
        hint = (f"https://www.rfc-editor.org/rfc/rfc{number}" + (f"#section-{anchor.group(1)}" if anchor else "")
                if number else "https://www.rfc-editor.org/rfc/rfcN")
        return [f"{url} links an RFC, but not at its canonical address; use {hint}."]
    if host in MAN_HOSTS or MAN_PATH.search(path):
        man7 = MAN7.fullmatch(url)
        if man7:
            folder, name, section = man7.groups()
            if section[0] != folder:
                return [f"{url} is the man page {name}({section}) filed under man{folder}; the two sections "
                        f"must agree, e.g. https://man7.org/linux/man-pages/man{section[0]}/{name}.{section}.html."]
            return []
        if any(pattern.fullmatch(url) for pattern in OTHER_MAN.values()):
            return []
        name, section = man_page_named(parts)
        hint = (f"https://man7.org/linux/man-pages/man{section[0]}/{name}.{section}.html"
                if name else "https://man7.org/linux/man-pages/manS/NAME.S.html")
        return [f"{url} links a man page, but not at an accepted address; a Linux page is {hint}, and other "
                f"systems' pages come from their own sites ({', '.join(OTHER_MAN)})."]
    if host in PYTHON_DOCS_HOSTS or (host.endswith("python.org") and path.startswith("/doc")):
        if not PYTHON_DOCS.fullmatch(url):
            rest = re.sub(r"^/(?:[23](?:\.\d+)?|dev|en/(?:latest|stable|\d[\w.]*))?/", "", path)
            fragment = f"#{parts.fragment}" if parts.fragment else ""
            return [f"{url} links Python's documentation, but not the current Python 3 pages; "
                    f"use https://docs.python.org/3/{rest.lstrip('/')}{fragment}."]
        return python_anchor_problems(url)
    return []


def man_page_named(parts) -> tuple[str | None, str | None]:
    """The page's name and section, read from a mirror's address, for the hint; (None, None) if not found."""
    query = dict(re.findall(r"(\w+)=([\w.+:-]+)", parts.query))
    if "query" in query and re.fullmatch(r"\d[a-z]*", query.get("sektion", "")):
        return query["query"], query["sektion"]
    named = re.search(r"/([\w+:-]+(?:\.[\w+:-]+)*?)\.(\d[a-z]*)(?:\.[a-z]{2}(?:_[A-Z]{2})?)?(?:\.html?)?$", parts.path)
    if named:
        return named.group(1), named.group(2)
    filed = re.search(r"/man/?(\d[a-z]*)/([\w.+:-]+?)/?$", parts.path)
    if filed:
        return filed.group(2), filed.group(1)
    return None, None


def python_anchor_problems(url: str) -> list[str]:
    """An anchor such as #socket.socket.fileno must name an object this Python has."""
    anchor = urlsplit(url).fragment
    if not re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+", anchor):
        return []
    parts = anchor.split(".")
    # Only the standard library's modules are imported: they are what docs.python.org documents, and a
    # made-up anchor must not run a module with side effects (antigravity opens a browser).
    if parts[0] not in sys.stdlib_module_names - {"antigravity", "this"}:
        return [f"{url} names {anchor}, but {parts[0]} is not a module of Python's standard library; check "
                f"the name against the page."]
    for split in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            if not hasattr(target, attribute):
                return [f"{url} names {anchor}, but {'.'.join(parts[:split])} has no such attribute in this "
                        f"Python; check the name against the page."]
            target = getattr(target, attribute)
        return []
    return [f"{url} names {anchor}, but no module {parts[0]} can be imported here; check the name against "
            f"the page."]


def link_text_problems(label: str, url: str) -> list[str]:
    """A markdown link whose text names an RFC, a section or a man page must point at that very one."""
    problems = []
    rfc = RFC_CANONICAL.fullmatch(url)
    if rfc:
        named = {str(int(n)) for n in RFC_NAMED.findall(label)}
        if named and named != {rfc.group(1)}:
            problems.append(f"the link [{label}] names RFC {', '.join(sorted(named))} but goes to RFC "
                            f"{rfc.group(1)} ({url}).")
        section = SECTION_NAMED.search(label)
        if section:
            kind = "section" if section["section"] else "appendix"
            number = (section["section"] or section["appendix"]) + section["tail"]
            wanted = f"#{kind}-{number}"
            if (rfc.group(2) or "") != wanted:
                problems.append(f"the link [{label}] names {kind} {number} but goes to {url}; "
                                f"link https://www.rfc-editor.org/rfc/rfc{rfc.group(1)}{wanted}.")
    man = MAN_NAMED.fullmatch(label.strip())
    if man:
        target = MAN7.fullmatch(url)
        target = (target.group(2), target.group(3)) if target else next(
            ((m["name"], m["section"]) for p in OTHER_MAN.values() if (m := p.fullmatch(url))), None)
        if target and target != (man.group(1), man.group(2)):
            problems.append(f"the link [{label}] names the man page {man.group(1)}({man.group(2)}) but goes to "
                            f"{target[0]}({target[1]}) ({url}).")
    return problems


def links_problems(nb) -> list[str]:
    """Every link problem of a notebook, each a sentence that says where it is."""
    problems = []
    for piece in notebook_texts(nb):
        for url in dict.fromkeys(urls_in(piece.text)):
            problems += [f"{piece.where}: {p}" for p in link_problems(url)]
        for label, url in MARKDOWN_LINK.findall(piece.text):
            problems += [f"{piece.where}: {p}" for p in link_text_problems(label, url)]
    return problems


# -- rule 2: the sources list ------------------------------------------------

def rfcs_named(text: str) -> set[str]:
    """The RFC numbers a text names, as strings without leading zeros."""
    numbers = set(RFC_NAMED.findall(text))
    for listed in RFC_LIST.findall(text):
        numbers.update(re.findall(r"\d+", listed))
    return {str(int(n)) for n in numbers}


def rfcs_linked(text: str) -> set[str]:
    return {m.group(1) for url in urls_in(text) if (m := RFC_CANONICAL.fullmatch(url))}


def sources_lists(nb) -> list[Text]:
    """The chapter's sources lists: paragraphs starting **Sources.**, or a Sources heading and what follows."""
    found = []
    cells = nb.cells
    for index, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            continue
        source = _joined(cell.source)
        for paragraph in re.split(r"\n\s*\n", source):
            if SOURCES_PARAGRAPH.match(paragraph):
                found.append(Text(index, f"cell {index} (markdown)", paragraph))
        lines = source.splitlines()
        for start, line in enumerate(lines):
            if SOURCES_HEADING.match(line):
                body = []
                for following in lines[start + 1:]:
                    if HEADING.match(following):
                        break
                    body.append(following)
                else:
                    # The heading's section runs on into the next markdown cells, up to a heading or code.
                    for after in cells[index + 1:]:
                        text = _joined(after.source)
                        if after.cell_type != "markdown" or HEADING.match(text):
                            break
                        body.append(text)
                found.append(Text(index, f"cell {index} (markdown)", "\n".join(body)))
    return found


def sources_problems(nb) -> list[str]:
    """A chapter's sources list must exist, link each RFC it names, and name each RFC the chapter names."""
    lists = sources_lists(nb)
    if not lists:
        return ["the chapter has no sources list; add a markdown paragraph that starts with **Sources.** "
                "near the top, as chapters 00 to 06 do."]
    problems = []
    listed = set()
    for piece in lists:
        named, linked = rfcs_named(piece.text), rfcs_linked(piece.text)
        listed |= named
        for number in sorted(named - linked, key=int):
            problems.append(f"{piece.where}: the sources list names RFC {number} without linking it; write "
                            f"[RFC {number}](https://www.rfc-editor.org/rfc/rfc{number}).")
    for piece in notebook_texts(nb):
        for number in sorted(rfcs_named(piece.text) - listed, key=int):
            problems.append(f"{piece.where}: RFC {number} is named here but not in the chapter's sources list; "
                            f"add [RFC {number}](https://www.rfc-editor.org/rfc/rfc{number}) there.")
    return problems


def homework_problems(nb, chapter) -> list[str]:
    """In a homework notebook each RFC is linked in the cell that names it or listed in its chapter's sources."""
    listed = set().union(*(rfcs_named(p.text) for p in sources_lists(chapter))) if chapter is not None else set()
    texts = notebook_texts(nb)
    problems = []
    for piece in texts:
        linked_here = set().union(*(rfcs_linked(p.text) for p in texts if p.cell == piece.cell))
        for number in sorted(rfcs_named(piece.text) - linked_here - listed, key=int):
            problems.append(f"{piece.where}: RFC {number} is named but neither linked in this cell nor in the "
                            f"chapter's sources list; link it here as https://www.rfc-editor.org/rfc/rfc{number} "
                            f"or add it to the chapter's sources.")
    return problems


def chapter_of(path: Path) -> Path:
    return REPO / "notebooks" / path.name


# -- the checker against wrong answers ----------------------------------------

def notebook(*cells):
    """A made-up notebook: each cell a markdown string, ("code", source, printed text) or ("html", source, html)."""
    made = []
    for cell in cells:
        if isinstance(cell, str):
            made.append(new_markdown_cell(cell))
        elif cell[0] == "html":
            shown = new_output("display_data", data={"text/html": cell[2], "text/plain": "<HTML>"})
            made.append(new_code_cell(cell[1], outputs=[shown]))
        else:
            _, source, printed = cell
            made.append(new_code_cell(source, outputs=[new_output("stream", name="stdout", text=printed)]))
    return new_notebook(cells=made)


SOURCES_OK = ("# 99 · A chapter\n\n**Sources.** TCP is [RFC 9293](https://www.rfc-editor.org/rfc/rfc9293), "
              "replacing [RFC 793](https://www.rfc-editor.org/rfc/rfc793); see "
              "[tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html).")

WRONG_LINKS = {
    "tools.ietf.org": ("[RFC 793](https://tools.ietf.org/html/rfc793)", "https://www.rfc-editor.org/rfc/rfc793"),
    "datatracker": ("[RFC 9293](https://datatracker.ietf.org/doc/html/rfc9293#section-3.1)",
                    "https://www.rfc-editor.org/rfc/rfc9293#section-3.1"),
    "ietf.org txt": ("see https://www.ietf.org/rfc/rfc768.txt.", "https://www.rfc-editor.org/rfc/rfc768"),
    "plain http": ("[RFC 768](http://www.rfc-editor.org/rfc/rfc768)", "https://www.rfc-editor.org/rfc/rfc768"),
    ".html": ("[RFC 768](https://www.rfc-editor.org/rfc/rfc768.html)", "https://www.rfc-editor.org/rfc/rfc768"),
    "rfc-editor txt": ("<https://www.rfc-editor.org/rfc/rfc768.txt>", "https://www.rfc-editor.org/rfc/rfc768"),
    "no scheme": ("at tools.ietf.org/html/rfc1122 you find", "https://www.rfc-editor.org/rfc/rfc1122"),
    "paragraph anchor": ("[RFC 8446, section 6.1](https://www.rfc-editor.org/rfc/rfc8446#section-6.1-2)",
                         "https://www.rfc-editor.org/rfc/rfc8446#section-6.1"),
    "in a code comment": (("code", "# see https://tools.ietf.org/html/rfc9293\nx = 1", ""),
                          "https://www.rfc-editor.org/rfc/rfc9293"),
    "in an output": (("code", "print(table)", "TCP  https://datatracker.ietf.org/doc/rfc9293/\n"),
                     "https://www.rfc-editor.org/rfc/rfc9293"),
    "man sections disagree": ("[socket(7)](https://man7.org/linux/man-pages/man2/socket.7.html)",
                              "must agree"),
    "man page mirror": ("[socket(7)](https://linux.die.net/man/7/socket)",
                        "https://man7.org/linux/man-pages/man7/socket.7.html"),
    "man page on debian": ("[tcp(7)](https://manpages.debian.org/bookworm/manpages/tcp.7.en.html)",
                           "https://man7.org/linux/man-pages/man7/tcp.7.html"),
    "man7 over http": ("[ip(7)](http://man7.org/linux/man-pages/man7/ip.7.html)",
                       "https://man7.org/linux/man-pages/man7/ip.7.html"),
    "man text disagrees": ("[recv(2)](https://man7.org/linux/man-pages/man2/send.2.html)", "send(2)"),
    "man text section disagrees": ("[socket(2)](https://man7.org/linux/man-pages/man7/socket.7.html)",
                                   "socket(7)"),
    "FreeBSD text disagrees": ("[kqueue(2)](https://man.freebsd.org/cgi/man.cgi?query=kevent&sektion=2)",
                               "kevent(2)"),
    "FreeBSD old address": ("[kqueue(2)](https://www.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2)",
                            "not at an accepted address"),
    "OpenSSL old address": ("[s_client](https://www.openssl.org/docs/man3.0/man1/openssl-s_client.html)",
                            "not at an accepted address"),
    "python 3.12": ("[socket](https://docs.python.org/3.12/library/socket.html)",
                    "https://docs.python.org/3/library/socket.html"),
    "python 2": ("[socket](http://docs.python.org/2/library/socket.html#socket.socket)",
                 "https://docs.python.org/3/library/socket.html#socket.socket"),
    "python object missing": ("[fileno](https://docs.python.org/3/library/socket.html#socket.socket.filenumber)",
                              "no such attribute"),
    "text names another RFC": ("[RFC 793](https://www.rfc-editor.org/rfc/rfc9293)", "goes to RFC 9293"),
    "text names another section": ("[RFC 9110, section 4.3.4](https://www.rfc-editor.org/rfc/rfc9110#section-4.3)",
                                   "#section-4.3.4"),
    "text names a section, link has none": ("[RFC 8446, appendix B.4](https://www.rfc-editor.org/rfc/rfc8446)",
                                            "#appendix-B.4"),
}

RIGHT_LINKS = [
    "[RFC 9293](https://www.rfc-editor.org/rfc/rfc9293)",
    "[RFC 9110, section 4.3.4](https://www.rfc-editor.org/rfc/rfc9110#section-4.3.4)",
    "[RFC 8446, appendix B.4](https://www.rfc-editor.org/rfc/rfc8446#appendix-B.4)",
    "([section 4.1.2](https://www.rfc-editor.org/rfc/rfc8446#section-4.1.2)).",
    "free at the [RFC Editor](https://www.rfc-editor.org/).",
    "[socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html), and",
    "[`accept(2)`](https://man7.org/linux/man-pages/man2/accept.2.html#DESCRIPTION)",
    "[size_t(3type)](https://man7.org/linux/man-pages/man3/size_t.3type.html)",
    "[kqueue(2)](https://man.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2)",
    "[pledge(2)](https://man.openbsd.org/pledge.2)",
    "[openssl-s_client(1)](https://docs.openssl.org/3.0/man1/openssl-s_client/)",
    "[`socket.socket.fileno`](https://docs.python.org/3/library/socket.html#socket.socket.fileno)",
    "[timeouts](https://docs.python.org/3/library/socket.html#notes-on-socket-timeouts)",
    "[ssl](https://docs.python.org/3/library/ssl.html#ssl.SSLContext.hostname_checks_common_name)",
    ("html", "display(HTML(table))", '<a href="https://man.freebsd.org/cgi/man.cgi?query=kqueue&amp;sektion=2">x</a>'),
    "[OpenSSL's manual](https://docs.openssl.org/3.0/) and [FreeBSD](https://www.freebsd.org/) are no man pages.",
    "Dan Kegel's [The C10K problem](http://www.kegel.com/c10k.html) is not a man page, RFC or Python page.",
]


@pytest.mark.parametrize("case", list(WRONG_LINKS), ids=list(WRONG_LINKS))
def test_checker_fails_a_wrong_link(case):
    cell, expected = WRONG_LINKS[case]
    problems = links_problems(notebook(SOURCES_OK, cell))
    assert problems, f"the checker passed a wrong link ({case}): {cell!r}"
    assert any(expected in p for p in problems), f"the problem should name {expected!r}: {problems}"


@pytest.mark.parametrize("cell", RIGHT_LINKS)
def test_checker_passes_a_canonical_link(cell):
    assert links_problems(notebook(SOURCES_OK, cell)) == []


WRONG_SOURCES = {
    "no sources list": (["# 99 · A chapter\n\nTCP is [RFC 9293](https://www.rfc-editor.org/rfc/rfc9293)."],
                        "no sources list"),
    "an RFC named but not listed": ([SOURCES_OK, "Mail used RFC 821 first."], "RFC 821 is named here"),
    "an RFC linked but not listed": ([SOURCES_OK, "See [this](https://www.rfc-editor.org/rfc/rfc5681)."],
                                     "RFC 5681 is named here"),
    "an RFC in a list of RFCs": ([SOURCES_OK, "RFCs 793, 1122 and 9293 define it."], "RFC 1122 is named here"),
    "an RFC in a code comment": ([SOURCES_OK, ("code", "x = 1   # RFC 6298's timer", "")], "RFC 6298"),
    "an RFC in an identifier": ([SOURCES_OK, ("code", "viz.rfc33_bits()", "")], "RFC 33 is named here"),
    "an RFC in printed output": ([SOURCES_OK, ("code", "print(table)", "UDP   RFC 768\n")], "output of cell 1"),
    "a listed RFC not linked": (["**Sources.** TCP is RFC 9293."], "names RFC 9293 without linking it"),
    "a heading list without the RFC": (["## Sources\n\n[RFC 793](https://www.rfc-editor.org/rfc/rfc793)",
                                        "# Part 1\n\nRFC 9293 replaced it."], "RFC 9293 is named here"),
}


@pytest.mark.parametrize("case", list(WRONG_SOURCES), ids=list(WRONG_SOURCES))
def test_checker_fails_a_missing_source(case):
    cells, expected = WRONG_SOURCES[case]
    problems = sources_problems(notebook(*cells))
    assert any(expected in p for p in problems), f"the checker should have said {expected!r}: {problems}"


def test_checker_passes_a_chapter_whose_sources_list_everything():
    chapter = notebook(SOURCES_OK, "TCP (RFC 9293) keeps RFC 793's states.",
                       ("code", "state = 'TIME_WAIT'   # RFC 9293, section 3.3.2", "TIME_WAIT (RFC 9293)\n"),
                       "## Sources\n\nAlso [RFC 1122](https://www.rfc-editor.org/rfc/rfc1122).", "Hosts: RFC 1122.")
    assert sources_problems(chapter) == []


def test_checker_on_homework():
    chapter = notebook(SOURCES_OK)
    assert homework_problems(notebook("Use RFC 9293's names."), chapter) == []
    assert homework_problems(notebook("Read [RFC 1982](https://www.rfc-editor.org/rfc/rfc1982): RFC 1982."),
                             chapter) == []
    problems = homework_problems(notebook("Serial numbers wrap (RFC 1982)."), chapter)
    assert problems and "RFC 1982" in problems[0]
    # A link in another cell does not count: the learner reads the cell that names it.
    assert homework_problems(notebook("RFC 1982.", "[RFC 1982](https://www.rfc-editor.org/rfc/rfc1982)"), chapter)


def test_rfcs_named_reads_every_spelling():
    text = ("RFC 9293, RFC793, rfc-768, [x](https://www.rfc-editor.org/rfc/rfc1122#section-4.2), "
            "RFCs 33, 147 and 349, RFCs 5681 or 6298, rfc0791, `viz.rfc862_echo`, RFC 2818's rule")
    assert rfcs_named(text) == {"9293", "793", "768", "1122", "33", "147", "349", "5681", "6298", "791", "862",
                                "2818"}
    assert rfcs_named("the rfc-editor.org home, section 3, RFC Editor") == set()


# -- the real notebooks -------------------------------------------------------

def test_the_notebooks_are_found():
    found = {path.stem for path in CHAPTERS}
    assert EXPECTED_CHAPTERS <= found, f"chapters missing: {sorted(EXPECTED_CHAPTERS - found)}"
    assert {path.stem for path in HOMEWORK} >= EXPECTED_CHAPTERS


@pytest.mark.parametrize("path", CHAPTERS + HOMEWORK, ids=name_of)
def test_links_are_canonical(path):
    problems = links_problems(read(path))
    assert not problems, f"{name_of(path)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", CHAPTERS, ids=name_of)
def test_sources_list_names_every_rfc(path):
    problems = sources_problems(read(path))
    assert not problems, f"{name_of(path)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", HOMEWORK, ids=name_of)
def test_homework_rfcs_are_linked_or_listed(path):
    chapter = chapter_of(path)
    problems = homework_problems(read(path), read(chapter) if chapter.exists() else None)
    if not chapter.exists():
        problems.insert(0, f"there is no chapter {name_of(chapter)} for this homework.")
    assert not problems, f"{name_of(path)}:\n" + "\n".join(problems)
