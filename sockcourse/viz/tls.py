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
- `tls13_handshake`: the records of one TLS 1.3 handshake as the relay carried
  them, each named by the message it holds (`sockcourse.tls.tls13_messages`);
- `chain_of_trust`: the trusted CA, the server's certificate and the name
  asked for, with the client's three checks on the links between them.

Text is at least 9 pt, and figures at most 10 inches wide, so that a
1400-pixel browser window shows them unshrunk.

Every function takes `ax=` and returns it, never calls plt.show() and never
touches rcParams.
"""

from __future__ import annotations

import textwrap

from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch

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


# -- the TLS 1.3 handshake, record by record -----------------------------------------------
#: Colours of a record by the keys it travels under: read by anyone, or encrypted.
KEY_COLOURS = {"clear": PALETTE["vermillion"], "handshake": PALETTE["blue"], "application": PALETTE["bluish green"]}
_KEY_LABELS = {"clear": "in the clear: anyone on the path reads it",
               "handshake": "{...} encrypted with the handshake keys",
               "application": "[...] encrypted with the application keys"}
#: How RFC 8446's figures write a message protected with each kind of key.
_BRACKETS = {"clear": ("", ""), "handshake": ("{", "}"), "application": ("[", "]")}


def _field(item, name):
    return item[name] if isinstance(item, dict) else getattr(item, name)


def tls13_handshake(messages, *, ax=None, title: str | None = None):
    """The TLS 1.3 handshake as the relay carried it: one arrow per record, named by what it holds.

    messages: sockcourse.tls.tls13_messages(...) (or dicts with direction,
    outer, size, holds and keys). Every record of the handshake is drawn, in
    order (rows are evenly spaced: the order, not the time); the records after
    it are counted in one line, since the relay sees only their sizes.
    """
    if not isinstance(messages, (list, tuple)) or not messages:
        raise TypeError(f"Expected the records of a TLS 1.3 conversation, from sockcourse.tls.tls13_messages(), "
                        f"but got {messages!r:.80}.")
    try:
        rows = [{name: _field(item, name) for name in ("direction", "outer", "size", "holds", "keys")}
                for item in messages]
    except (KeyError, AttributeError):
        raise ValueError("Each record must have direction, outer, size, holds and keys, as "
                         "sockcourse.tls.tls13_messages() returns them.") from None
    shown = [row for row in rows if row["holds"] is not None]
    after = [row for row in rows if row["holds"] is None]
    ax = new_axes(ax, (9.5, 1.9 + 0.5 * len(shown)))
    client_x, server_x, wire_x = 0.0, 1.0, 1.12
    bottom = len(shown) - 0.4
    for x, who in ((client_x, "client"), (server_x, "server")):
        ax.plot([x, x], [-0.5, bottom], color="#999999", lw=1.2)
        ax.text(x, -0.6, who, ha="center", va="bottom", fontsize=11, fontweight="bold")
    ax.text(wire_x, -0.6, "what the relay reads:\nrecord type, size", ha="left", va="bottom", fontsize=9,
            color="#444444")
    for y, row in enumerate(shown):
        up = row["direction"] == "to_server"
        start, end = (client_x, server_x) if up else (server_x, client_x)
        compat = row["holds"] == "change_cipher_spec"
        colour = "#8C8C8C" if compat else KEY_COLOURS[row["keys"]]
        ax.annotate("", xy=(end, y + 0.2), xytext=(start, y - 0.2),
                    arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.6, ls=":" if compat else "-",
                                    shrinkA=2, shrinkB=2))
        opening, closing = _BRACKETS[row["keys"]]
        name = "change_cipher_spec (ignored, RFC 8446 D.4)" if compat else f"{opening}{row['holds']}{closing}"
        ax.text(0.5, y - 0.06, name, ha="center", va="bottom", fontsize=10, color=colour,
                fontweight="normal" if compat else "bold",
                bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none"))
        ax.text(wire_x, y, f"{row['outer']}, {row['size']:,} B", ha="left", va="center", fontsize=9,
                color="#444444")
    if after:
        from_client = sum(1 for row in after if row["direction"] == "to_server")
        ax.text(0.5, bottom + 0.35,
                f"then {len(after)} more records ({from_client} from the client, {len(after) - from_client} from "
                f"the server), all labelled application_data: the data and what the TLS stacks\nsend after the "
                f"handshake, such as session tickets; the relay sees only their sizes",
                ha="center", va="top", fontsize=9, color="#444444")
    ax.set_xlim(-0.25, 1.55)
    ax.set_ylim(bottom + 2.3, -1.2)
    ax.axis("off")
    used = [keys for keys in KEY_COLOURS if any(row["keys"] == keys for row in rows)]
    handles = [Line2D([], [], color=KEY_COLOURS[keys], lw=2, label=_KEY_LABELS[keys]) for keys in used]
    handles.append(Line2D([], [], color="#8C8C8C", lw=1.6, ls=":", label="compatibility record, in the clear"))
    ax.legend(handles=handles, loc="lower center", ncol=2, fontsize=9, frameon=False)
    ax.set_title(title or "The TLS 1.3 handshake as the relay carried it, one arrow per record\n"
                          "(rows: the order, not the time; names from the order of RFC 8446, section 2)",
                 fontsize=11)
    return ax


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
