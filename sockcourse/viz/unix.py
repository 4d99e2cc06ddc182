"""Pictures of chapter 03 (UNIX sockets): message boundaries, a passed file descriptor, UNIX against TCP.

Each function draws real data that a notebook cell measured or received, on
the Axes it is given (`ax=`), and returns that Axes. Artists the tests look
for carry a `gid` such as "boundaries:recv".
"""

from __future__ import annotations

import math
import statistics

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from .style import PALETTE, new_axes

#: One colour per message, in the order they were sent (yellow is too pale for white text).
MESSAGE_COLOURS = (PALETTE["blue"], PALETTE["orange"], PALETTE["bluish green"],
                   PALETTE["reddish purple"], PALETTE["sky blue"], PALETTE["vermillion"])

#: One colour per kind of connection in the measurements.
KIND_COLOURS = {"tcp": PALETTE["blue"], "unix": PALETTE["orange"]}
KIND_LABELS = {"tcp": "TCP over 127.0.0.1", "unix": "UNIX stream socket"}

_SENDER, _RECEIVER, _KERNEL = PALETTE["orange"], PALETTE["sky blue"], PALETTE["bluish green"]


# -- message boundaries of the socket types -------------------------------------------
def _check_boundaries(results) -> list[tuple[str, list[bytes], list[bytes]]]:
    if not isinstance(results, dict) or not results:
        raise TypeError(f"Expected a dict such as {{'SOCK_STREAM': (sent, received)}}, but got {results!r}; "
                        f"pass, for each socket type, the list of messages sent and the list of recv() results.")
    rows = []
    for name, pair in results.items():
        try:
            sent, received = (list(part) for part in pair)
        except (TypeError, ValueError):
            raise TypeError(f"The entry {name!r} should be a pair (sent, received) of lists of bytes, but is "
                            f"{pair!r}; for example ([b'one', b'two'], [b'onetwo']).") from None
        if not all(isinstance(m, (bytes, bytearray)) for m in sent + received):
            raise TypeError(f"The messages of {name!r} must be bytes, as send() and recv() use; got "
                            f"{[type(m).__name__ for m in sent + received]}.")
        if b"".join(sent) != b"".join(received):
            raise ValueError(f"For {name!r} the bytes received differ from the bytes sent "
                             f"({len(b''.join(received))} of {len(b''.join(sent))} bytes); this picture shows "
                             f"how the same bytes were cut, so pass a run in which every byte arrived.")
        rows.append((str(name), sent, received))
    return rows


def _origins(sent: list[bytes]) -> list[tuple[int, int, int]]:
    """(start, end, message index) of every message in the byte stream."""
    spans, offset = [], 0
    for index, message in enumerate(sent):
        spans.append((offset, offset + len(message), index))
        offset += len(message)
    return spans


def message_boundaries(results, ax=None, title=None):
    """For each socket type, the send() calls above and the recv() results below, on one byte axis.

    results: {name: (sent, received)}, the messages in the order they were sent
    and what each recv() returned. The bytes keep the colour of the message
    they came from; a black frame is one call. Where the frames below match the
    frames above, the socket kept the message boundaries.
    """
    rows = _check_boundaries(results)
    ax = new_axes(ax, (10, 1.2 + 1.45 * len(rows)))
    longest = max(len(b"".join(sent)) for _, sent, _ in rows) or 1
    height, gap = 0.62, 0.28
    ticks, labels = [], []
    for group, (name, sent, received) in enumerate(rows):
        top = -group * 2.3
        spans = _origins(sent)
        for y, calls, kind in ((top, sent, "send"), (top - height - gap, received, "recv")):
            offset = 0
            for number, data in enumerate(calls, start=1):
                start, end = offset, offset + len(data)
                for s, e, index in spans:  # the bytes of this call, coloured by the message they belong to
                    lo, hi = max(s, start), min(e, end)
                    if lo < hi:
                        ax.add_patch(Rectangle((lo, y - height / 2), hi - lo, height, linewidth=0,
                                               facecolor=MESSAGE_COLOURS[index % len(MESSAGE_COLOURS)],
                                               alpha=0.9, gid=f"boundaries:bytes:{index}"))
                ax.add_patch(Rectangle((start, y - height / 2), max(end - start, 0.001), height, fill=False,
                                       linewidth=2.2, edgecolor=PALETTE["black"], gid=f"boundaries:{kind}"))
                words = f"#{number}: {len(data)} B"
                if (end - start) / longest > 0.09:
                    # A white label reads the same on every colour, and on a call that spans several.
                    ax.text((start + end) / 2, y, words, ha="center", va="center", fontsize=9, fontweight="bold",
                            bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "none",
                                  "alpha": 0.9}, gid=f"boundaries:label:{kind}")
                offset = end
            ticks.append(y)
            labels.append(f"{len(calls)} × {kind}()")
        ax.text(-0.01 * longest, top + height / 2 + 0.12, name, ha="left", va="bottom", fontsize=11,
                fontweight="bold", gid="boundaries:type")
    ax.set_yticks(ticks, labels)
    ax.set_xlim(-0.01 * longest, longest * 1.01)
    ax.set_ylim(ticks[-1] - 0.7, 0.95)
    ax.set_xlabel("position in the data sent (bytes)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.set_title(title or "Message boundaries: what each recv() returned", fontsize=12)
    return ax


# -- a file descriptor passed between processes -------------------------------------------
def _box(ax, x, y, w, h, colour, gid, words=None, size=10, **text_style):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor=colour, edgecolor=PALETTE["black"], linewidth=1.2, gid=gid))
    if words:
        ax.text(x + w / 2, y + h / 2, words, ha="center", va="center", fontsize=size, **text_style)


def _fd_table(ax, x, top, title, fd, colour, note):
    """A process with a few rows of its descriptor table; returns where its passed fd's row is."""
    width, row, head = 2.9, 0.42, 0.95
    rows = [("0", "stdin"), ("1", "stdout"), ("2", "stderr"), ("…", ""), (str(fd), note)]
    height = head + row * (len(rows) - 0.5) + 0.2
    _box(ax, x, top - height, width, height, colour, gid="fdpass:process")
    ax.text(x + width / 2, top - 0.35, title, ha="center", va="center", fontsize=11, fontweight="bold")
    for i, (number, what) in enumerate(rows):
        y = top - head - i * row
        passed = i == len(rows) - 1
        ax.add_patch(Rectangle((x + 0.15, y - row / 2), width - 0.3, row * 0.9,
                               facecolor="white" if not passed else "#FFF6B8",
                               edgecolor="0.35", linewidth=0.8, gid="fdpass:fd" if passed else None))
        ax.text(x + 0.3, y, f"fd {number}", ha="left", va="center", fontsize=9.5,
                fontweight="bold" if passed else "normal")
        ax.text(x + width - 0.3, y, what, ha="right", va="center", fontsize=8.5, color="0.25")
    return x, x + width, top - head - (len(rows) - 1) * row


def fd_passing(sender_fd: int, receiver_fd: int, *, offset: int, links: int, size: int,
               sender="notebook process", receiver="child process", ax=None, title=None):
    """Two descriptor tables pointing at one open file, after SCM_RIGHTS carried it across.

    sender_fd and receiver_fd are the numbers each process uses (they usually
    differ); offset is the shared file position after the receiver read; links
    is how many names the file has (0 once it is unlinked); size its bytes.
    """
    for what, value in (("sender_fd", sender_fd), ("receiver_fd", receiver_fd), ("offset", offset),
                        ("links", links), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"The {what} must be a whole number of 0 or more, but got {value!r}; "
                             f"pass what the processes reported, such as os.fstat(fd).st_nlink for links.")
    ax = new_axes(ax, (10, 5.6))
    left = _fd_table(ax, 0.0, 5.6, sender, sender_fd, _SENDER, "sent it")
    right = _fd_table(ax, 7.1, 5.6, receiver, receiver_fd, _RECEIVER, "received it")

    _box(ax, 3.55, 2.55, 2.9, 1.05, "white", gid="fdpass:description",
         words=f"open file description\nread-only, offset {offset} B", size=9.5)
    names = "no name left" if links == 0 else f"{links} name{'s' if links != 1 else ''}"
    _box(ax, 3.55, 0.75, 2.9, 1.05, _KERNEL, gid="fdpass:inode",
         words=f"the file (inode): {size} B\n{names} (links = {links})", size=9.5, color="white",
         fontweight="bold")
    for (x0, x1, y), end_x in ((left, 3.55), (right, 6.45)):
        start = (x1 - 0.15, y) if end_x > x1 else (x0 + 0.15, y)
        ax.add_patch(FancyArrowPatch(start, (end_x, 3.1), arrowstyle="-|>", mutation_scale=14, linewidth=1.6,
                                     color=PALETTE["black"], connectionstyle="arc3,rad=0.0", gid="fdpass:points"))
    ax.add_patch(FancyArrowPatch((5.0, 2.55), (5.0, 1.8), arrowstyle="-|>", mutation_scale=14, linewidth=1.6,
                                 color=PALETTE["black"]))
    ax.add_patch(FancyArrowPatch((2.95, 5.0), (7.05, 5.0), arrowstyle="-|>", mutation_scale=16, linewidth=2,
                                 linestyle=(0, (5, 3)), color=PALETTE["vermillion"], gid="fdpass:scm_rights"))
    ax.text(5.0, 5.15, "sendmsg() with SCM_RIGHTS over a UNIX socket", ha="center", va="bottom", fontsize=9.5,
            color=PALETTE["vermillion"], fontweight="bold")
    # unix(7): the kernel holds the open file while the message is queued; recvmsg() installs the new fd.
    ax.text(5.0, 4.85, "the kernel holds the open file in flight;\nrecvmsg() installs a new fd in the receiver",
            ha="center", va="top", fontsize=8.5, color="0.25", gid="fdpass:when")
    ax.text(5.0, 0.35, "kernel memory: both processes point at the same open file", ha="center", va="center",
            fontsize=8.5, style="italic", color="0.3")
    ax.set_xlim(-0.2, 10.2)
    ax.set_ylim(0.1, 6.0)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or "Passing a file descriptor: two numbers, one open file", fontsize=12)
    return ax


# -- UNIX against TCP ----------------------------------------------------------------------
def _check_measurements(data, what: str, example: str) -> dict:
    if not isinstance(data, dict) or not data:
        raise TypeError(f"Expected a dict of {what} by kind, such as {example}, but got {data!r}; "
                        f"pass bench.compare(...)[{'rtt' if 'round' in what else 'throughput'!r}].")
    for kind, values in data.items():
        values = list(values) if isinstance(values, (list, tuple)) else None
        if not values or not all(isinstance(v, (int, float)) and v > 0 and math.isfinite(v) for v in values):
            raise ValueError(f"The {what} for {kind!r} must be a non-empty list of positive numbers, but got "
                             f"{data[kind]!r}; measure with sockcourse.bench first.")
    return data


def _kind_style(kind: str, index: int):
    colour = KIND_COLOURS.get(kind, MESSAGE_COLOURS[(index + 2) % len(MESSAGE_COLOURS)])
    return colour, KIND_LABELS.get(kind, kind)


def latency_comparison(samples, ax=None, title=None):
    """Round-trip times by kind (seconds in, microseconds drawn): a box from the 25th to the 75th
    percentile, whiskers from the 1st to the 99th, every round as a faint dot, the median written.
    """
    samples = _check_measurements(samples, "round-trip times in seconds", "{'tcp': [...], 'unix': [...]}")
    ax = new_axes(ax, (7, 4.5))
    kinds = list(samples)
    micro = {kind: sorted(v * 1e6 for v in samples[kind]) for kind in kinds}

    def percentile(values, q):
        return values[min(len(values) - 1, int(q * len(values)))]

    top = max(percentile(micro[k], 0.99) for k in kinds) * 1.3
    for i, kind in enumerate(kinds):
        colour, label = _kind_style(kind, i)
        values = micro[kind]
        shown = values[:: max(1, len(values) // 600)]  # a few hundred dots tell the shape as well as thousands
        spread = [i + 0.28 * (((j * 0.618034) % 1.0) - 0.5) for j in range(len(shown))]
        ax.scatter(spread, [min(v, top) for v in shown], s=6, color=colour, alpha=0.25, linewidths=0,
                   gid="latency:dots", zorder=1)
        box = ax.boxplot([values], positions=[i], widths=0.45, whis=(1, 99), showfliers=False,
                         patch_artist=True, medianprops={"color": PALETTE["black"], "linewidth": 2})
        for patch in box["boxes"]:
            patch.set(facecolor=colour, alpha=0.55, edgecolor=PALETTE["black"], gid="latency:box")
        median = statistics.median(values)
        ax.text(i + 0.3, median, f"median {median:.1f} µs", ha="left", va="center", fontsize=9.5,
                fontweight="bold", gid="latency:median")
        above = sum(v > top for v in values)
        if above:
            ax.text(i, top * 0.985, f"{above} slower round{'s' if above != 1 else ''} off the top",
                    ha="center", va="top", fontsize=8, color="0.3")
    ax.set_xticks(range(len(kinds)), [_kind_style(k, i)[1] for i, k in enumerate(kinds)])
    ax.set_xlim(-0.6, len(kinds) - 0.4 + 0.5)
    ax.set_ylim(0, top)
    ax.set_ylabel("round-trip time (µs)")
    ax.grid(axis="y", color="0.9")
    ax.set_axisbelow(True)
    counts = sorted({len(micro[k]) for k in kinds})
    rounds = f"{counts[0]:,} rounds each" if len(counts) == 1 else f"{counts[0]:,} to {counts[-1]:,} rounds"
    ax.set_title(title or f"Round-trip times, one message echoed back ({rounds})", fontsize=12)
    return ax


def throughput_comparison(rates, ax=None, title=None):
    """Throughput by kind (bits per second in, Gbit/s drawn): a bar at the median, a dot for each run."""
    rates = _check_measurements(rates, "throughputs in bits per second", "{'tcp': [...], 'unix': [...]}")
    ax = new_axes(ax, (6, 4.5))
    kinds = list(rates)
    for i, kind in enumerate(kinds):
        colour, _ = _kind_style(kind, i)
        runs = [r / 1e9 for r in rates[kind]]
        median = statistics.median(runs)
        ax.bar(i, median, width=0.55, color=colour, alpha=0.85, edgecolor=PALETTE["black"], gid="throughput:bar")
        ax.scatter([i + 0.08 * (j - (len(runs) - 1) / 2) for j in range(len(runs))], runs, s=22, zorder=3,
                   color=PALETTE["black"], gid="throughput:runs")
        ax.text(i, max(runs) * 1.03, f"{median:.1f} Gbit/s", ha="center", va="bottom", fontsize=10,
                fontweight="bold", gid="throughput:median")
    ax.set_xticks(range(len(kinds)), [_kind_style(k, i)[1] for i, k in enumerate(kinds)])
    ax.set_ylim(0, max(max(r) for r in rates.values()) / 1e9 * 1.2)
    ax.set_ylabel("throughput (Gbit/s)")
    ax.grid(axis="y", color="0.9")
    ax.set_axisbelow(True)
    runs = max(len(r) for r in rates.values())
    ax.set_title(title or f"Bulk transfer, bar = median of {runs} runs, dot = one run", fontsize=12)
    return ax
