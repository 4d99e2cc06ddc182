"""Pictures of chapter 05: what a relay sees, which checks a certificate fails, what handshakes cost.

- `byte_values`: how often each byte value occurs in what a relay saw;
  text piles up on letters, TLS records spread evenly like noise.
- `certificate_checks`: a grid of the client's three checks (from
  `sockcourse.tls.check_certificate`) for each certificate, and what Python said.
- `handshake_costs`: time to the first reply byte per protocol, measured by
  `sockcourse.handshake.measure`, beside the claim from talks.
- `handshake_ladders`: every piece or datagram that crossed the link, drawn
  between client and server over time, one strip per protocol.

Every function takes `ax=` and returns it, never calls plt.show() and never
touches rcParams.
"""

from __future__ import annotations

import textwrap

from matplotlib.lines import Line2D
from matplotlib.patches import Patch

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
    ax.text(79, top * 0.97, "printable ASCII (32-126)", ha="center", va="top", fontsize=8, color="#6B5E00")
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
    ax = new_axes(ax, (11, 0.9 + 0.75 * len(rows)))
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
        ax.text(starts[-1] + 0.1, y, "\n".join(textwrap.wrap(verdict, 44)), ha="left", va="center", fontsize=8.5,
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
            ax.plot([x + 0.38, x + 0.38], [low, high] if high > low else [low - top * 0.006, low + top * 0.006],
                    color=PALETTE["black"], lw=3, solid_capstyle="butt")
            ax.plot([x + 0.34, x + 0.42], [low, low], color=PALETTE["black"], lw=1)
            ax.plot([x + 0.34, x + 0.42], [high, high], color=PALETTE["black"], lw=1)
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
    ax.legend(handles=handles, loc="upper right", fontsize=8.5, frameon=False, ncol=2)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def handshake_ladders(costs, *, ax=None, title: str | None = None):
    """Every piece or datagram that crossed the link in one run of each protocol, client below, server above.

    A line rising from the client's line to the server's is a piece on its way
    there (it leaves when the link got it and lands when the link passed it on);
    counting the zig-zags before the star (the reply's first byte) counts round trips.
    """
    rows = _check_costs(costs)
    ladders = getattr(costs, "ladders", {})
    rtt_ms = costs.rtt * 1000
    ax = new_axes(ax, (10, 1.3 + 1.25 * len(rows)))
    replies = {row["protocol"]: costs.of(row["protocol"])[-1].milliseconds for row in rows}
    right = max(replies.values()) + 0.35 * rtt_ms
    gap = 1.9
    for index, row in enumerate(rows):
        protocol = row["protocol"]
        client_y, server_y = -index * gap, -index * gap + 1
        for y, who in ((client_y, "client"), (server_y, "server")):
            ax.plot([0, right], [y, y], color="#999999", lw=0.8)
            ax.text(-right * 0.01, y, who, ha="right", va="center", fontsize=8)
        ax.text(-right * 0.075, (client_y + server_y) / 2, protocol, ha="right", va="center", fontsize=10,
                fontweight="bold", color=FAMILY_COLOURS[_family(protocol)])
        if protocol.startswith("TCP"):
            d = costs.delay * 1000
            ax.annotate("", xy=(d, server_y), xytext=(0, client_y),
                        arrowprops=dict(arrowstyle="-|>", color=_EMULATED, ls="--", lw=1.2, shrinkA=0, shrinkB=0))
            ax.annotate("", xy=(2 * d, client_y), xytext=(d, server_y),
                        arrowprops=dict(arrowstyle="-|>", color=_EMULATED, ls="--", lw=1.2, shrinkA=0, shrinkB=0))
        start, hops = ladders.get(protocol, (0.0, []))
        for hop in hops:
            if hop.action == "dropped" or not hop.nbytes:
                continue
            sent = (hop.t - hop.held - start) * 1000
            landed = (hop.t - start) * 1000
            if sent > right:
                continue
            up = hop.direction == "to_server"
            ax.annotate("", xy=(landed, server_y if up else client_y), xytext=(sent, client_y if up else server_y),
                        arrowprops=dict(arrowstyle="-|>", color=TO_SERVER if up else TO_CLIENT, lw=1.2,
                                        shrinkA=0, shrinkB=0))
        ax.plot([replies[protocol]], [client_y], marker="*", ms=13, color=PALETTE["black"], zorder=5)
        ax.text(replies[protocol] + right * 0.012, client_y - 0.12, f"{replies[protocol]:.0f} ms", fontsize=8,
                va="top")
    ax.set_xlim(-right * 0.2, right)
    ax.set_ylim(-(len(rows) - 1) * gap - 0.5, 1.6)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xticks([k * rtt_ms for k in range(int(right // rtt_ms) + 1)])
    ax.set_xlabel(f"time since the client started (ms); ticks every round trip ({rtt_ms:.0f} ms)")
    ax.set_title(title or "Each round trip is a zig-zag across the link")
    handles = [Line2D([], [], color=TO_SERVER, lw=1.5, label="client → server"),
               Line2D([], [], color=TO_CLIENT, lw=1.5, label="server → client"),
               Line2D([], [], color=_EMULATED, lw=1.2, ls="--", label="SYN, SYN+ACK (emulated by the link)"),
               Line2D([], [], color=PALETTE["black"], marker="*", ms=10, ls="", label="first byte of the reply")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.06 - 0.2 / len(rows)), ncol=4,
              fontsize=8.5, frameon=False)
    return ax
