"""Pictures of chapter 05: what a relay sees, which checks a certificate fails, what handshakes cost.

- `byte_values`: how often each byte value occurs in what a relay saw;
  text piles up on letters, TLS records spread evenly like noise.
- `certificate_checks`: a grid of the client's three checks (from
  `sockcourse.tls.check_certificate`) for each certificate, and what Python said.
- `handshake_costs`: time to the first reply byte per protocol, measured by
  `sockcourse.handshake.measure`, beside the claim from talks.
- `handshake_ladders`: every piece or datagram that crossed the link, drawn
  between client and server over time, one strip per protocol, with what
  crosses after the reply labelled;
- `chain_of_trust`: the trusted CA, the server's certificate and the name
  asked for, with the client's three checks on the links between them.
- `tls_messages`: one TLS conversation message by message, named by the
  client's own TLS library (`sockcourse.tls.messages.record_handshake`), with
  the encrypted ones on a shaded band and the end of the handshake marked;
- `trust_chain`: for one client, where each server certificate's chain of
  trust holds or breaks (`sockcourse.tls.chain.chain_facts`).

Text is at least 9 pt, and figures at most 10 inches wide, so that a
1400-pixel browser window shows them unshrunk.

Every function takes `ax=` and returns it, never calls plt.show() and never
touches rcParams.
"""

from __future__ import annotations

import textwrap

from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch, Rectangle

from .style import PALETTE, TO_CLIENT, TO_SERVER, new_axes

#: A colour per family of protocols.
FAMILY_COLOURS = {"TCP": PALETTE["blue"], "TCP+TLS": PALETTE["orange"], "QUIC": PALETTE["bluish green"]}
_PASS, _FAIL = PALETTE["bluish green"], PALETTE["vermillion"]
_EMULATED = "#8C8C8C"


def _family(protocol: str) -> str:
    if protocol.startswith("TCP+TLS"):
        return "TCP+TLS"
    return "QUIC" if protocol.startswith("QUIC") else "TCP"


# -- what the relay saw -----------------------------------------------------------------
def byte_values(samples: dict, *, ax=None, title: str = "Which byte values the relay saw"):
    """Share of each byte value (0-255) in each sample: {label: bytes}, drawn as lines."""
    if not isinstance(samples, dict) or not samples:
        raise TypeError(f"Expected a dict {{label: bytes}} with at least one entry, but got {samples!r}; "
                        f"for example {{'plaintext': b'...', 'TLS': b'...'}}.")
    for label, data in samples.items():
        if not isinstance(data, (bytes, bytearray)) or not data:
            raise ValueError(f"The sample {label!r} must be non-empty bytes, but got {data!r:.60}; "
                             f"join the data of the link's hops: b''.join(hop.data for hop in relay.record).")
    ax = new_axes(ax, (9, 4.2))
    ax.axvspan(32, 126, color=PALETTE["yellow"], alpha=0.18, lw=0)
    colours = [PALETTE["vermillion"], PALETTE["blue"], PALETTE["bluish green"], PALETTE["reddish purple"]]
    styles = ["-", "-", "--", ":"]
    top = 0.0
    for index, (label, data) in enumerate(samples.items()):
        counts = [0] * 256
        for value in bytes(data):
            counts[value] += 1
        shares = [100 * count / len(data) for count in counts]
        top = max(top, max(shares))
        ax.step(range(256), shares, where="mid", color=colours[index % 4], ls=styles[index % 4], lw=1.4,
                label=f"{label} ({len(data):,} bytes)")
    even = 100 / 256
    ax.axhline(even, color=PALETTE["black"], lw=0.8, ls=(0, (2, 2)),
               label=f"every value equally often ({even:.2f} %)")
    ax.text(79, top * 0.97, "printable ASCII (32-126)", ha="center", va="top", fontsize=9, color="#6B5E00")
    ticks = [0, 32, 48, 65, 97, 127, 160, 192, 224, 255]
    ax.set_xticks(ticks, [f"{t}" + {32: "\n' '", 48: "\n'0'", 65: "\n'A'", 97: "\n'a'"}.get(t, "") for t in ticks])
    ax.set_xlim(-2, 257)
    ax.set_ylim(0, top * 1.05)
    ax.set_xlabel("byte value")
    ax.set_ylabel("share of all bytes (%)")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=9, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


# -- the certificate checks ---------------------------------------------------------------
def certificate_checks(rows, *, ax=None, title: str = "What the client checks, certificate by certificate"):
    """A grid: one row per certificate, a ✓ or ✗ per check, and the verdict Python gave.

    rows: a list of dicts {"case": str, "checks": {check: bool}, "verdict": str},
    with the same checks in every row (see sockcourse.tls.check_certificate).
    """
    if not isinstance(rows, (list, tuple)) or not rows:
        raise TypeError(f"Expected a non-empty list of rows, but got {rows!r}; each row is a dict with "
                        f"'case', 'checks' and 'verdict'.")
    for row in rows:
        if not isinstance(row, dict) or not {"case", "checks", "verdict"} <= set(row):
            raise ValueError(f"Each row must be a dict with 'case', 'checks' and 'verdict', but got {row!r}.")
    checks = list(rows[0]["checks"])
    columns = checks + ["what Python said"]
    widths = [1.6] * len(checks) + [3.4]
    left = 2.3
    ax = new_axes(ax, (10, 0.9 + 0.75 * len(rows)))
    starts = [left]
    for width in widths[:-1]:
        starts.append(starts[-1] + width)
    for start, width, name in zip(starts, widths, columns):
        ax.text(start + width / 2, -0.75, "\n".join(textwrap.wrap(name, 16)), ha="center", va="center",
                fontsize=9, fontweight="bold")
    for y, row in enumerate(rows):
        ax.text(left - 0.1, y, "\n".join(textwrap.wrap(row["case"], 24)), ha="right", va="center", fontsize=9)
        for start, width, check in zip(starts, widths, checks):
            ok = bool(row["checks"][check])
            ax.text(start + width / 2, y, "✓ yes" if ok else "✗ no", ha="center", va="center", fontsize=10,
                    color="white", fontweight="bold",
                    bbox=dict(boxstyle="round,pad=0.35", fc=_PASS if ok else _FAIL, ec="none"))
        verdict = str(row["verdict"])
        good = not any(word in verdict.lower() for word in ("error", "fail", "refused"))
        ax.text(starts[-1] + 0.1, y, "\n".join(textwrap.wrap(verdict, 40)), ha="left", va="center", fontsize=9,
                color=PALETTE["black"],
                bbox=dict(boxstyle="round,pad=0.3", fc="#E8F5EF" if good else "#FBE9DF", ec="none"))
    ax.set_xlim(0, starts[-1] + widths[-1])
    ax.set_ylim(len(rows) - 0.4, -1.25)
    ax.axis("off")
    ax.set_title(title)
    return ax


# -- handshake costs ------------------------------------------------------------------------
def _check_costs(costs):
    if not hasattr(costs, "rows") or not hasattr(costs, "rtt"):
        raise TypeError(f"Expected the result of sockcourse.handshake.measure(), but got {costs!r} "
                        f"(type {type(costs).__name__}).")
    rows = costs.rows()
    if not rows:
        raise ValueError("The measurement holds no protocols; run sockcourse.handshake.measure() first.")
    return rows


def handshake_costs(costs, *, ax=None, claim: dict | None = None, title: str | None = None):
    """Bars of the median time to the first reply byte, split into set-up and the request's round trip.

    claim: {family: (low_ms, high_ms)} for a 100 ms round trip (default: the
    claims the measurement carries, `costs.claims`), drawn as a bracket beside
    each bar's set-up part, scaled to the link's round trip.
    """
    rows = _check_costs(costs)
    claim = (getattr(costs, "claims", None) or {}) if claim is None else claim
    if not isinstance(claim, dict):
        raise TypeError(f"claim must be a dict {{family: (low_ms, high_ms)}}, but got {claim!r}; "
                        f"for example claim={{'TCP': (100, 100)}}.")
    rtt_ms = costs.rtt * 1000
    scale = rtt_ms / 100.0
    ax = new_axes(ax, (9, 5))
    top = max(row["ms"] for row in rows)
    for x, row in enumerate(rows):
        colour = FAMILY_COLOURS[_family(row["protocol"])]
        setup = max(0.0, row["ms"] - rtt_ms)
        request = row["ms"] - setup
        ax.bar(x, setup, width=0.6, color=colour, edgecolor=colour)
        ax.bar(x, request, bottom=setup, width=0.6, color="white", edgecolor=colour, hatch="///", lw=1.2)
        ax.text(x, row["ms"] + top * 0.02, f"{row['ms']:.0f} ms\n= {row['round_trips']} round trip{'s' * (row['round_trips'] != 1)}",
                ha="center", va="bottom", fontsize=9)
        low, high = claim.get(_family(row["protocol"]), (None, None))
        if low is not None:
            low, high = low * scale, high * scale
            if high > low:
                ax.plot([x + 0.38, x + 0.38], [low, high], color=PALETTE["black"], lw=3, solid_capstyle="butt")
                ax.plot([x + 0.33, x + 0.43], [low, low], color=PALETTE["black"], lw=1.2)
                ax.plot([x + 0.33, x + 0.43], [high, high], color=PALETTE["black"], lw=1.2)
            else:
                # A claim of one value: a bar across, as thick as the range brackets, so that it shows.
                ax.plot([x + 0.31, x + 0.45], [low, low], color=PALETTE["black"], lw=3, solid_capstyle="butt")
    for k in range(1, int(top // rtt_ms) + 2):
        ax.axhline(k * rtt_ms, color="#BBBBBB", lw=0.7, ls=":", zorder=0)
    ax.set_xticks(range(len(rows)), [row["protocol"] for row in rows])
    ax.set_ylim(0, top * 1.22)
    ax.set_xlim(-0.6, len(rows) - 0.3)
    ax.set_ylabel("time to the first byte of the reply (ms)")
    ax.set_xlabel(f"protocol, across a link with {rtt_ms:.0f} ms round trips (dotted lines: whole round trips)")
    ax.set_title(title or "What a connection costs before the first answer")
    handles = [Patch(fc="#777777", ec="#777777", label="set-up: before the request could leave"),
               Patch(fc="white", ec="#777777", hatch="///", label="the request's own round trip"),
               Line2D([], [], color=PALETTE["black"], lw=3,
                      label=f"the claim from talks, set-up only{'' if scale == 1 else f' (scaled to {rtt_ms:.0f} ms)'}")]
    handles += [Patch(fc=colour, label=family) for family, colour in FAMILY_COLOURS.items()]
    ax.legend(handles=handles, loc="upper right", fontsize=9, frameon=False, ncol=2)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


#: What the pieces that cross after the first byte of the reply are, by protocol: they cost the
#: user nothing, but they are on the ladder. Seen with aioquic's QUIC logger and, for TLS, by an
#: experiment: the course's clients close() without close_notify (Python's close() sends none), and
#: OpenSSL 3.0 answers the bare TCP FIN with a fatal decode_error alert (ssl/record/rec_layer_s3.c).
AFTER_THE_REPLY = {
    "TCP+TLS 1.2": "after ★: the server's alert, sent when the client hung up without close_notify",
    "TCP+TLS 1.3": "after ★: the server's alert, sent when the client hung up without close_notify",
    "QUIC": "after ★: the client's ACK, then its CONNECTION_CLOSE",
    "QUIC 0-RTT": "after ★: the handshake ends (the client's Finished; HANDSHAKE_DONE and a new ticket),\n"
                  "then the client's CONNECTION_CLOSE",
}
_AFTER = "#B0B0B0"


def handshake_ladders(costs, *, ax=None, title: str | None = None):
    """Every piece or datagram that crossed the link in one run of each protocol, client below, server above.

    A line rising from the client's line to the server's is a piece on its way
    there (it leaves when the link got it and lands when the link passed it on);
    counting the zig-zags before the star (the reply's first byte) counts round trips.
    """
    rows = _check_costs(costs)
    ladders = getattr(costs, "ladders", {})
    rtt_ms = costs.rtt * 1000
    ax = new_axes(ax, (10, 1.3 + 1.4 * len(rows)))
    replies = {row["protocol"]: costs.of(row["protocol"])[-1].milliseconds for row in rows}
    right = max(replies.values()) + 0.35 * rtt_ms
    gap = 2.2
    for index, row in enumerate(rows):
        protocol = row["protocol"]
        client_y, server_y = -index * gap, -index * gap + 1
        for y, who in ((client_y, "client"), (server_y, "server")):
            ax.plot([0, right], [y, y], color="#999999", lw=0.8)
            ax.text(-right * 0.01, y, who, ha="right", va="center", fontsize=9)
        ax.text(-right * 0.075, (client_y + server_y) / 2, protocol, ha="right", va="center", fontsize=10,
                fontweight="bold", color=FAMILY_COLOURS[_family(protocol)])
        if protocol.startswith("TCP"):
            d = costs.delay * 1000
            ax.annotate("", xy=(d, server_y), xytext=(0, client_y),
                        arrowprops=dict(arrowstyle="-|>", color=_EMULATED, ls="--", lw=1.2, shrinkA=0, shrinkB=0))
            ax.annotate("", xy=(2 * d, client_y), xytext=(d, server_y),
                        arrowprops=dict(arrowstyle="-|>", color=_EMULATED, ls="--", lw=1.2, shrinkA=0, shrinkB=0))
        start, hops = ladders.get(protocol, (0.0, []))
        trailing = False
        for hop in hops:
            if hop.action == "dropped" or not hop.nbytes:
                continue
            sent = (hop.t - hop.held - start) * 1000
            landed = (hop.t - start) * 1000
            if sent > right:
                continue
            up = hop.direction == "to_server"
            late = sent >= replies[protocol] - 0.5  # left after the reply's first byte had arrived
            if late and landed > right:
                continue  # it would end outside the picture, and matplotlib would not draw it
            trailing = trailing or late
            colour = _AFTER if late else (TO_SERVER if up else TO_CLIENT)
            ax.annotate("", xy=(landed, server_y if up else client_y), xytext=(sent, client_y if up else server_y),
                        arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.3, ls=":" if late else "-",
                                        shrinkA=0, shrinkB=0))
        ax.plot([replies[protocol]], [client_y], marker="*", ms=13, color=PALETTE["black"], zorder=5)
        ax.text(replies[protocol] + right * 0.012, client_y - 0.12, f"{replies[protocol]:.0f} ms", fontsize=9,
                va="top")
        if trailing and protocol in AFTER_THE_REPLY:
            ax.text(right, client_y - 0.42, AFTER_THE_REPLY[protocol], ha="right", va="top", fontsize=9,
                    color="#555555")
    ax.set_xlim(-right * 0.2, right)
    ax.set_ylim(-(len(rows) - 1) * gap - 0.95, 1.6)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xticks([k * rtt_ms for k in range(int(right // rtt_ms) + 1)])
    ax.set_xlabel(f"time since the client started (ms); ticks every round trip ({rtt_ms:.0f} ms)")
    ax.set_title(title or "Each round trip is a zig-zag across the link")
    handles = [Line2D([], [], color=TO_SERVER, lw=1.5, label="client → server"),
               Line2D([], [], color=TO_CLIENT, lw=1.5, label="server → client"),
               Line2D([], [], color=_EMULATED, lw=1.2, ls="--", label="SYN, SYN+ACK (emulated by the link)"),
               Line2D([], [], color=_AFTER, lw=1.3, ls=":", label="after the reply (said on the right)"),
               Line2D([], [], color=PALETTE["black"], marker="*", ms=10, ls="", label="first byte of the reply")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.06 - 0.2 / len(rows)), ncol=3,
              fontsize=9, frameon=False)
    return ax


# -- shared by the pictures below ----------------------------------------------------------
def _field(item, name):
    return item[name] if isinstance(item, dict) else getattr(item, name)


# -- the chain of trust -------------------------------------------------------------------
def _name(rdns) -> str:
    """A certificate name as getpeercert() gives it, written like 'O=sockcourse, OU=server'."""
    short = {"organizationName": "O", "organizationalUnitName": "OU", "commonName": "CN", "countryName": "C"}
    return ", ".join(f"{short.get(key, key)}={value}" for rdn in rdns for key, value in rdn)


def chain_of_trust(peercert: dict, checks: dict, hostname: str, *, ax=None, title: str | None = None):
    """From the CA the client trusts, through the server's certificate, to the name it asked for.

    peercert: what SSLSocket.getpeercert() returned. checks: the three answers
    of sockcourse.tls.check_certificate() for that certificate, in the order of
    tls.CHECKS (signature, name, dates). hostname: the server_hostname asked for.
    """
    needed = ("subject", "issuer", "notBefore", "notAfter")
    if not isinstance(peercert, dict) or not all(key in peercert for key in needed):
        raise TypeError(f"Expected the dict that SSLSocket.getpeercert() returns (with {', '.join(needed)}), "
                        f"but got {peercert!r:.80}.")
    if not isinstance(checks, dict) or len(checks) != 3:
        raise TypeError(f"Expected the three answers of sockcourse.tls.check_certificate(), but got {checks!r:.80}.")
    issued, named, dated = (bool(value) for value in checks.values())
    issuer, subject = _name(peercert["issuer"]), _name(peercert["subject"])
    names = [f"{kind} {value}" for kind, value in peercert.get("subjectAltName", ())] or ["(none)"]
    ax = new_axes(ax, (9.5, 4.0))
    # (left, width, heading, lines): boxes in axes fractions, text top-aligned inside.
    boxes = [
        (0.01, 0.22, "the CA the client trusts",
         textwrap.wrap(issuer, 26) + ["", "its certificate is in the", "client's trust store", "(cafile=ca.crt)"]),
        (0.34, 0.33, "the server's certificate",
         [f"subject: {subject}", "issuer:"] + ["  " + part for part in textwrap.wrap(issuer, 30)]
         + [f"valid from {peercert['notBefore']}", f"        to {peercert['notAfter']}", "subjectAltName:"]
         + ["  " + entry for entry in names]),
        (0.78, 0.205, "the name asked for", ["server_hostname=", f"  {hostname!r}"]),
    ]
    top = 0.86
    for left, width, heading, lines in boxes:
        ax.text(left + width / 2, top + 0.02, heading, ha="center", va="bottom", fontsize=10, fontweight="bold",
                transform=ax.transAxes)
        ax.add_patch(FancyBboxPatch((left, 0.34), width, top - 0.34, boxstyle="round,pad=0.01", fc="#F2F2F2",
                                    ec="#999999", transform=ax.transAxes))
        ax.text(left + 0.012, top - 0.025, "\n".join(lines), ha="left", va="top", fontsize=9, linespacing=1.3,
                transform=ax.transAxes)
    links = [(0.23, 0.34, issued, "signed with the CA's private key,\nchecked with its public key"),
             (0.67, 0.78, named, "is the name among\nthe subjectAltName entries?")]
    for start, end, ok, what in links:
        colour = _PASS if ok else _FAIL
        ax.annotate("", xy=(end - 0.005, 0.62), xytext=(start + 0.012, 0.62), xycoords="axes fraction",
                    arrowprops=dict(arrowstyle="-|>", color=colour, lw=2))
        middle = (start + end) / 2
        ax.text(middle, 0.66, "✓" if ok else "✗", ha="center", va="bottom", fontsize=14, color=colour,
                fontweight="bold", transform=ax.transAxes)
        ax.text(middle, 0.28, what, ha="center", va="top", fontsize=9, transform=ax.transAxes)
        ax.plot([middle, middle], [0.3, 0.58], color=colour, lw=0.8, ls=":", transform=ax.transAxes)
    ax.text(0.505, 0.1, ("✓" if dated else "✗") + " and today is within the certificate's dates", ha="center",
            va="top", fontsize=10, color=_PASS if dated else _FAIL, fontweight="bold", transform=ax.transAxes)
    ax.axis("off")
    ax.set_title(title or "The chain of trust: the client's three checks, link by link", fontsize=11)
    return ax


# -- the handshake by message name, from inside the client --------------------------------
_ENCRYPTED_BAND = PALETTE["sky blue"]
_COMPAT = "#8C8C8C"
_MESSAGE_FIELDS = ("sender", "name", "encrypted", "outer", "record_size", "after_handshake")


def _message_rows(messages) -> list[dict]:
    if not isinstance(messages, (list, tuple)) or not messages:
        raise TypeError(f"Expected the messages of one TLS conversation, from "
                        f"sockcourse.tls.messages.record_handshake(ca), but got {messages!r:.80}.")
    rows = []
    for index, item in enumerate(messages):
        try:
            row = {name: _field(item, name) for name in _MESSAGE_FIELDS}
        except (KeyError, AttributeError):
            raise ValueError(f"Message {index} lacks some of {', '.join(_MESSAGE_FIELDS)}: {item!r:.80}; pass "
                             f"what sockcourse.tls.messages.record_handshake(ca) returns.") from None
        if row["sender"] not in ("client", "server"):
            raise ValueError(f"Message {index} was sent by {row['sender']!r}; the sender must be 'client' or "
                             f"'server'.")
        if rows and rows[-1]["after_handshake"] and not row["after_handshake"]:
            raise ValueError(f"Message {index} ({row['name']!r}) belongs to the handshake but comes after a message "
                             f"sent after it; pass the messages in the order they crossed.")
        # Messages that share a record are told apart by it; without one, each is a record of its own.
        row["record"] = item.get("record", index) if isinstance(item, dict) else getattr(item, "record", index)
        rows.append(row)
    return rows


def tls_messages(messages, *, ax=None, title: str | None = None):
    """One TLS conversation, message by message: client left, server right, each arrow named.

    messages: sockcourse.tls.messages.record_handshake(ca) (or dicts with
    sender, name, encrypted, outer, record_size, after_handshake). Rows are
    evenly spaced: the order, not the time. A blue band marks the messages
    that travelled encrypted; a dashed line marks where wrap_socket()
    returned; the right column is what a relay reads in each record's header.
    """
    rows = _message_rows(messages)
    split = next((index for index, row in enumerate(rows) if row["after_handshake"]), None)
    # Rows after the handshake move down by a gap, which holds the line where wrap_socket() returned.
    gap = 0.8 if split else 0.0
    ys = [index + (gap if row["after_handshake"] else 0.0) for index, row in enumerate(rows)]
    ax = new_axes(ax, (9.5, 1.9 + 0.4 * (len(rows) + gap)))
    client_x, server_x, wire_x = 0.0, 1.0, 1.1
    bottom = ys[-1] + 0.5
    for y, row in zip(ys, rows):
        if row["encrypted"]:
            ax.add_patch(Rectangle((client_x, y - 0.5), server_x - client_x, 1.0, fc=_ENCRYPTED_BAND, alpha=0.22,
                                   ec="none", zorder=0, gid="tls_messages:encrypted"))
    for x, who in ((client_x, "client"), (server_x, "server")):
        ax.plot([x, x], [-0.5, bottom], color="#999999", lw=1.2)
        ax.text(x, -0.65, who, ha="center", va="bottom", fontsize=11, fontweight="bold")
    ax.text(wire_x, -0.65, "the record's header:\nwhat a relay reads", ha="left", va="bottom", fontsize=9,
            color="#444444")
    shown_records = set()
    for y, row in zip(ys, rows):
        up = row["sender"] == "client"
        start, end = (client_x, server_x) if up else (server_x, client_x)
        compat = row["name"] == "change_cipher_spec"
        colour = _COMPAT if compat else (TO_SERVER if up else TO_CLIENT)
        ax.annotate("", xy=(end, y + 0.22), xytext=(start, y - 0.22), gid="tls_messages:arrow",
                    arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.6, ls=":" if compat else "-",
                                    shrinkA=2, shrinkB=2))
        plain = compat or row["name"] == "application data"
        ax.text(0.5, y - 0.08, row["name"], ha="center", va="bottom", fontsize=10, color=colour,
                fontweight="normal" if plain else "bold", gid="tls_messages:name",
                bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.85))
        if row["record"] in shown_records:
            wire = "(in the same record)"
        else:
            shown_records.add(row["record"])
            wire = f"{row['outer']}, {row['record_size']:,} B"
        ax.text(wire_x, y, wire, ha="left", va="center", fontsize=9, color="#444444", gid="tls_messages:wire")
    if split:
        line_y = ys[split] - 0.5 - gap / 2
        ax.plot([client_x - 0.06, server_x + 0.06], [line_y, line_y], color=PALETTE["black"], lw=1, ls="--",
                gid="tls_messages:handshake-done")
        ax.text(0.5, line_y, "wrap_socket() returns: the handshake is complete", ha="center", va="center",
                fontsize=9, bbox=dict(boxstyle="round,pad=0.25", fc="white", ec=PALETTE["black"], lw=0.6))
    ax.set_xlim(-0.12, 1.45)
    ax.set_ylim(bottom + 1.6, -1.3)
    ax.axis("off")
    handles = [Line2D([], [], color=TO_SERVER, lw=1.6, label="client → server"),
               Line2D([], [], color=TO_CLIENT, lw=1.6, label="server → client"),
               Patch(fc=_ENCRYPTED_BAND, alpha=0.22, ec="none", label="encrypted: only the two ends read it")]
    if any(row["name"] == "change_cipher_spec" for row in rows):
        handles.append(Line2D([], [], color=_COMPAT, lw=1.6, ls=":", label="change_cipher_spec, in the clear"))
    ax.legend(handles=handles, loc="lower center", ncol=2, fontsize=9, frameon=False)
    ax.set_title(title or "The handshake by message name, as the client's TLS library wrote and read them\n"
                          "(rows: the order, not the time)", fontsize=11)
    return ax


# -- where each certificate's chain of trust breaks ------------------------------------------
_CHAIN_FIELDS = ("case", "anchor", "leaf", "hostname", "issuer_found", "signed", "matched", "in_dates")
_FACT_FIELDS = ("subject", "issuer", "names", "not_before", "not_after", "is_ca", "self_signed")


def _chain_rows(chains) -> list[dict]:
    if not isinstance(chains, (list, tuple)) or not chains:
        raise TypeError(f"Expected a non-empty list of chains, from sockcourse.tls.chain.chain_facts(certificate, "
                        f"ca, hostname), but got {chains!r:.80}.")
    rows = []
    for index, item in enumerate(chains):
        try:
            row = {name: _field(item, name) for name in _CHAIN_FIELDS}
            for side in ("anchor", "leaf"):
                row[side] = {name: _field(row[side], name) for name in _FACT_FIELDS}
        except (KeyError, AttributeError, TypeError):
            raise ValueError(f"Chain {index} lacks some of {', '.join(_CHAIN_FIELDS)} (or its anchor and leaf some "
                             f"of {', '.join(_FACT_FIELDS)}); pass what sockcourse.tls.chain.chain_facts() "
                             f"returns.") from None
        rows.append(row)
    first = rows[0]
    for row in rows[1:]:
        if row["anchor"]["subject"] != first["anchor"]["subject"] or row["hostname"] != first["hostname"]:
            raise ValueError(f"Every chain must be followed by one client: the same trusted CA and the same name, "
                             f"but {row['case']!r} has {row['anchor']['subject']!r} and {row['hostname']!r}, and "
                             f"{first['case']!r} has {first['anchor']['subject']!r} and {first['hostname']!r}; "
                             f"draw them in separate pictures.")
    return rows


def trust_chain(chains, *, ax=None, title: str | None = None):
    """Where each server certificate's chain of trust holds or breaks, for one client.

    chains: a list of sockcourse.tls.chain.chain_facts(certificate, ca,
    hostname), one per certificate, all for the same trusted CA and name.
    Left, the CA certificate in the client's trust store; in the middle,
    each server certificate; right, the name the client asked for. A green
    arrow is a link that holds, a red dashed one a link that breaks.
    """
    rows = _chain_rows(chains)
    anchor, hostname = rows[0]["anchor"], rows[0]["hostname"]
    spacing = 1.3
    store = (0.0, 2.2)           # x from, x to of the trust store's box
    cards = (2.95, 7.6)          # of the server certificates' cards
    name_box = (8.35, 9.95)      # of the name asked for
    self_line = ["issuer: itself", "(self-signed)"] if anchor["self_signed"] else \
        ["issuer:"] + textwrap.wrap(anchor["issuer"], 24)
    lines = (["subject:"] + textwrap.wrap(anchor["subject"], 24) + self_line
             + [f"may sign others: {'yes' if anchor['is_ca'] else 'no'}", f"valid {anchor['not_before']}",
                f"   to {anchor['not_after']}"])
    box_height = 0.2 + 0.205 * len(lines)
    centre = spacing * (len(rows) - 1) / 2
    # The drawing spans the cards (0.5 above the first, 0.5 below the last) or the store's box, if taller.
    top = min(-0.5, centre - box_height / 2)
    bottom = max(spacing * (len(rows) - 1) + 0.5, centre + box_height / 2)
    ax = new_axes(ax, (10, 1.0 + 0.82 * (bottom - top + 1.7)))
    for (left, right), heading in ((store, "the client's trust store"), (cards, "the certificate each server presents"),
                                   (name_box, "the name asked for")):
        ax.text((left + right) / 2, top - 0.22, heading, ha="center", va="bottom", fontsize=10, fontweight="bold")
    ax.add_patch(FancyBboxPatch((store[0], centre - box_height / 2), store[1] - store[0], box_height,
                                boxstyle="round,pad=0.05", fc="#F2F2F2", ec="#999999"))
    ax.text(store[0] + 0.1, centre, "\n".join(lines), ha="left", va="center", fontsize=9, linespacing=1.4,
            gid="trust_chain:store")
    ax.add_patch(FancyBboxPatch((name_box[0], centre - 0.4), name_box[1] - name_box[0], 0.8,
                                boxstyle="round,pad=0.05", fc="#F2F2F2", ec="#999999"))
    ax.text(sum(name_box) / 2, centre, f"server_hostname=\n{hostname!r}", ha="center", va="center", fontsize=9)
    for index, row in enumerate(rows):
        y = index * spacing
        leaf = row["leaf"]
        issued = row["issuer_found"] and row["signed"]
        named = row["matched"] is not None
        ax.add_patch(FancyBboxPatch((cards[0], y - 0.5), cards[1] - cards[0], 1.0, boxstyle="round,pad=0.05",
                                    fc="white", ec="#999999", gid="trust_chain:card"))
        names = textwrap.shorten(", ".join(leaf["names"]) or "(no entries)", 38, placeholder=" …")
        signature = "" if issued or not row["issuer_found"] else " (its signature does not verify)"
        parts = [(row["case"], None), (f"issuer: {leaf['issuer']}{signature}", issued),
                 (f"subjectAltName: {names}", named), (f"valid {leaf['not_before']} to {leaf['not_after']}",
                                                       row["in_dates"])]
        for line, (text, ok) in enumerate(parts):
            colour = PALETTE["black"] if ok is None or ok else _FAIL
            mark = "" if ok is None else ("✓ " if ok else "✗ ")
            ax.text(cards[0] + 0.1, y - 0.37 + 0.245 * line, mark + text, ha="left", va="center", fontsize=9,
                    color=colour, fontweight="bold" if ok is None else "normal", gid=f"trust_chain:card{index}")
        for (x0, y0), (x1, y1), ok in (((store[1] + 0.07, centre), (cards[0] - 0.07, y), issued),
                                       ((cards[1] + 0.07, y), (name_box[0] - 0.07, centre), named)):
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0), gid=f"trust_chain:link{index}",
                        arrowprops=dict(arrowstyle="-|>", color=_PASS if ok else _FAIL, lw=1.8,
                                        ls="-" if ok else "--", shrinkA=0, shrinkB=0))
    ax.text(5.0, bottom + 0.2, "green: the link holds;  red, dashed: it breaks, and the client refuses the "
            "certificate.\nLeft link: the store holds the certificate's issuer, whose public key verifies its signature;\n"
            "right link: the name is among its subjectAltName entries. And today must be within its dates.",
            ha="center", va="top", fontsize=9, color="#444444", linespacing=1.4)
    ax.set_xlim(-0.1, 10.1)
    ax.set_ylim(bottom + 1.05, top - 0.45)
    ax.axis("off")
    ax.set_title(title or f"Each certificate's chain of trust, for a client that trusts one CA and asks for "
                          f"{hostname!r}", fontsize=11)
    return ax
