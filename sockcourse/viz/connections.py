"""Chapter 01's pictures of connections: one port shared by many, and a connection half closed.

Both draw rows the kernel reported (`kernel.states(...)`: each row has a
role, a local and a remote address, and a state), never what Python believes
it connected:

- `shared_port(states)`: the one LISTEN socket, and hanging off it each
  server end on the same port, with the client's socket at the far end;
- `half_close(states, to_server=..., to_client=...)`: the two directions of
  one connection as two one-way pipes, with the bytes each side's recv()
  calls really returned, and the direction whose sender shut it capped by
  its FIN.

Each draws on the Axes it is given (`ax=`) and returns it, or makes a figure
of a fitting size. Artists the tests look for carry a `gid` such as
"shared:remote:0".
"""

from __future__ import annotations

import textwrap

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from ..core.errors import ArgumentError, ArgumentTypeError
from ..protocols.tcpstates import KERNEL_NAMES, MEANING
from .style import PALETTE, ROLE_COLOURS, axes_size, new_axes, shorten

#: The most connections shared_port() draws; the rest are counted in a note.
MAX_CONNECTIONS = 8
#: The most recv() results half_close() draws in one pipe; the rest are counted in its label.
MAX_CHUNKS = 4

_FIELDS = ("role", "local", "remote", "state")
_EXAMPLE = "for example kernel.states(listener) right after the connections were accepted"
_LINE = "0.35"
#: How many characters of 8.5 pt monospace fit in one unit of x in half_close()'s own figure (with a margin).
_CHARS_PER_UNIT = 12.0


# -- checks --------------------------------------------------------------------------------
def _rows(states, example: str) -> list:
    """The rows of a kernel.states() table, each checked to have the four text fields."""
    if isinstance(states, (str, bytes, dict)) or not hasattr(states, "__iter__"):
        raise ArgumentTypeError(f"Expected the table kernel.states(...) returned (a list of rows), but got "
                                f"{states!r}; {example}.")
    rows = list(states)
    for row in rows:
        if not all(isinstance(getattr(row, name, None), str) for name in _FIELDS):
            raise ArgumentTypeError(f"Each row must have the text fields role, local, remote and state, as "
                                    f"kernel.states() gives them, but the table holds {row!r}; {example}.")
        if row.state not in KERNEL_NAMES:
            raise ArgumentError(f"The state {row.state!r} in {row!r} is not one the kernel reports; "
                                f"pass the table kernel.states() returned, unchanged.")
    return rows


def _port(address: str, row) -> int:
    """The port of "127.0.0.1:5000" or "[::1]:5000"."""
    _, colon, port = address.rpartition(":")
    if not colon or not port.isdigit():
        raise ArgumentError(f"The address {address!r} in {row!r} has no port after a colon; "
                            f"pass the table kernel.states() returned, unchanged.")
    return int(port)


def _box(ax, x, y, width, height, colour, *, dashed=False, gid=None):
    ax.add_patch(FancyBboxPatch((x, y), width, height, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=colour + "40" if not dashed else "white", edgecolor=colour if not dashed else "0.5",
                                linewidth=1.6, linestyle="--" if dashed else "-", gid=gid))


def _plain(ax):
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


# -- one port, many connections ------------------------------------------------------------
def _connections(rows):
    """(listener, [(server end or None, client end or None), ...]) from the rows on one listening port."""
    listeners = [row for row in rows if row.state == "LISTEN"]
    if not listeners:
        raise ArgumentError(f"The table has no LISTEN row, so there is no listening port to draw (it holds "
                            f"{len(rows)} rows); ask while the listener is open, {_EXAMPLE}.")
    ports = sorted({_port(row.local, row) for row in listeners})
    if len(ports) > 1:
        raise ArgumentError(f"The table has listening sockets on {len(ports)} ports ({', '.join(map(str, ports))}), "
                            f"but the picture shows one port; ask about one listener, {_EXAMPLE}.")
    port = ports[0]
    servers = [row for row in rows if row.state != "LISTEN" and _port(row.local, row) == port]
    clients = [row for row in rows if row.state != "LISTEN" and row.remote and _port(row.remote, row) == port]
    if not servers and not clients:
        raise ArgumentError(f"The table has the listener on port {port} but no connection to it, so nothing "
                            f"shares the port yet; connect a client first, then ask again ({_EXAMPLE}).")
    pairs, unmatched = [], list(clients)
    for server in servers:
        # The client's socket is the one whose two addresses are the server end's, swapped.
        client = next((c for c in unmatched if c.local == server.remote and c.remote == server.local), None)
        if client is not None:
            unmatched.remove(client)
        pairs.append((server, client))
    # A client with no server end: its handshake is not finished (SYN_SENT), so the kernel made none yet.
    pairs += [(None, client) for client in unmatched]
    return listeners[0], pairs


def _end_text(ax, x, y, lines, gids, size=9.5):
    """Lines of a box, each its own Text (so a test can find the one it checks), top to bottom."""
    step = 0.2
    top = y - step * (len(lines) - 1) / 2   # the y axis points down: the first connection is on top
    for index, (text, gid) in enumerate(zip(lines, gids)):
        bold = index == 0
        ax.text(x, top + step * index, text, ha="center", va="center", fontsize=size,
                fontweight="bold" if bold else "normal", family="sans-serif" if bold else "monospace", gid=gid)


def shared_port(states, *, ax=None, title=None):
    """One listening socket and, hanging off it, every connection on its port, each with its four numbers.

    states: what kernel.states(listener) returned while the connections were
        open: one LISTEN row, and for each connection the server's end (its
        local address is the listener's port) and the client's socket (its
        remote address is that port). Rows on other ports are left out.
    """
    listener, pairs = _connections(_rows(states, _EXAMPLE))
    port = _port(listener.local, listener)
    shown, hidden = pairs[:MAX_CONNECTIONS], len(pairs) - MAX_CONNECTIONS
    n = len(shown)
    ax = new_axes(ax, (11.5, 1.15 * n + 1.9))
    box_h, colours = 0.86, ROLE_COLOURS
    columns = {"listening": (0.0, 2.5), "server": (3.7, 3.3), "client": (8.2, 3.3)}

    lx, lw = columns["listening"]
    ly = (n - 1) / 2
    _box(ax, lx, ly - box_h / 2, lw, box_h, colours["listening"], gid="shared:listener")
    _end_text(ax, lx + lw / 2, ly, ["listening socket", listener.local, listener.state],
              ["shared:listener-title", "shared:listener-local", "shared:listener-state"], size=10)

    for row, (server, client) in enumerate(shown):
        y = row
        sx, sw = columns["server"]
        cx, cw = columns["client"]
        if server is not None:
            _box(ax, sx, y - box_h / 2, sw, box_h, colours["server"], gid=f"shared:server:{row}")
            _end_text(ax, sx + sw / 2, y, [f"server end {row + 1}", f"local  {server.local}",
                                          f"remote {server.remote}", server.state],
                      ["shared:server-title", f"shared:local:{row}", f"shared:remote:{row}", f"shared:state:{row}"])
            # The listener hands each server end out; they all keep its port.
            ax.add_patch(FancyArrowPatch((lx + lw, ly), (sx, y), arrowstyle="-|>", mutation_scale=12,
                                         color=colours["listening"], linewidth=1.6, shrinkA=2, shrinkB=2,
                                         gid=f"shared:fan:{row}"))
        else:
            _box(ax, sx, y - box_h / 2, sw, box_h, PALETTE["black"], dashed=True, gid=f"shared:server:{row}")
            _end_text(ax, sx + sw / 2, y, ["no server end", "the handshake is", "not finished yet"],
                      ["shared:server-title", f"shared:missing:{row}", f"shared:missing2:{row}"], size=9)
        if client is not None:
            _box(ax, cx, y - box_h / 2, cw, box_h, colours["client"], gid=f"shared:client:{row}")
            _end_text(ax, cx + cw / 2, y, ["client's socket", f"local  {client.local}",
                                          f"remote {client.remote}", client.state],
                      ["shared:client-title", f"shared:client-local:{row}", f"shared:client-remote:{row}",
                       f"shared:client-state:{row}"])
        else:
            _box(ax, cx, y - box_h / 2, cw, box_h, PALETTE["black"], dashed=True, gid=f"shared:client:{row}")
            _end_text(ax, cx + cw / 2, y, ["client's socket", "not in this table"],
                      ["shared:client-title", f"shared:client-missing:{row}"], size=9)
        linked = server is not None and client is not None
        ax.add_patch(FancyArrowPatch((sx + sw, y), (cx, y), arrowstyle="<|-|>", mutation_scale=12, color=_LINE,
                                     linewidth=1.6 if linked else 1.0, linestyle="-" if linked else ":",
                                     shrinkA=2, shrinkB=2, gid=f"shared:link:{row}"))
        ax.text((sx + sw + cx) / 2, y - 0.1, f"connection\n{row + 1}", ha="center", va="bottom", fontsize=8.5,
                color="0.3", gid=f"shared:link-label:{row}")

    for key, text in (("listening", "the listener:\nit only accepts"),
                      ("server", "the server's end of each connection\n(accept() hands one out)"),
                      ("client", "the client's socket\nat the far end")):
        x, w = columns[key]
        ax.text(x + w / 2, -0.62, text, ha="center", va="bottom", fontsize=9.5, color="0.2",
                gid=f"shared:header:{key}")

    servers = [server for server, _ in pairs if server is not None]
    remotes = sorted({_port(server.remote, server) for server in servers})
    if servers:
        same = {server.local for server in servers} == {listener.local}
        where = f"the listener's address {listener.local}" if same else f"the listener's port {port}"
        ports = ", ".join(map(str, remotes[:6])) + (", ..." if len(remotes) > 6 else "")
        who = (f"All {len(servers)} server ends have {where} as their" if len(servers) > 1
               else f"The one server end has {where} as its")
        note = (f"{who} local end; what tells the connections apart is the remote end "
                f"({len(remotes)} client port{'s' if len(remotes) != 1 else ''}: {ports}).")
    else:
        note = f"No connection to port {port} has a server end yet: every handshake is still under way."
    if hidden > 0:
        note += f"\n{hidden} more connection{'s' if hidden != 1 else ''} on this port not drawn."
    note = "\n".join(textwrap.fill(part, 125) for part in note.split("\n"))
    ax.text(5.75, n - 0.4, note, ha="center", va="top", fontsize=9.5, color="0.15", gid="shared:note")

    ax.set_xlim(-0.2, 11.7)
    ax.set_ylim(n + 0.15 + 0.2 * (hidden > 0), -0.95)  # the first connection at the top
    _plain(ax)
    ax.set_title(title or f"One listening port ({port}), {len(pairs)} connection{'s' if len(pairs) != 1 else ''} "
                 f"on it, as the kernel lists them", fontsize=12)
    return ax


# -- half-close ----------------------------------------------------------------------------
#: The states of a side that has sent its FIN while the other direction may still carry data.
_SHUT = {"FIN_WAIT1", "FIN_WAIT2"}
_HALF_EXAMPLE = ("for example half_close(after_shutdown, to_server=[request, eof], to_client=[reply, goodbye]), "
                 "with after_shutdown = kernel.states(listener, client) taken after client.shutdown(SHUT_WR)")


def _one_connection(rows):
    """(client row, server row) of the one connection in the table."""
    clients = [row for row in rows if row.role == "client"]
    servers = [row for row in rows if row.role == "server"]
    pairs = [(c, s) for c in clients for s in servers if c.local == s.remote and c.remote == s.local]
    if not pairs:
        raise ArgumentError(f"The table holds no connection with both ends (a 'client' row and the 'server' row "
                            f"with its addresses swapped); it has {len(rows)} rows. Ask while both sockets exist, "
                            f"{_HALF_EXAMPLE}.")
    if len(pairs) > 1:
        raise ArgumentError(f"The table holds {len(pairs)} connections, but a half-close is drawn for one; name "
                            f"its client socket too, {_HALF_EXAMPLE}.")
    return pairs[0]


def _chunks(value, name: str) -> list[bytes]:
    if isinstance(value, (bytes, bytearray, str)) or not hasattr(value, "__iter__"):
        raise ArgumentTypeError(f"{name} must be the list of what each recv() call returned, in order, but got "
                                f"{value!r}; {_HALF_EXAMPLE}.")
    chunks = list(value)
    for chunk in chunks:
        if not isinstance(chunk, (bytes, bytearray)):
            raise ArgumentTypeError(f"Every item of {name} must be bytes, as recv() returns them, but it holds "
                                    f"{chunk!r}; {_HALF_EXAMPLE}.")
    if b"" in chunks[:-1]:
        raise ArgumentError(f"{name} holds data after b'' ({chunks!r}), but recv() returns b'' only once the "
                            f"stream has ended, and nothing follows it; keep the recv() results in order.")
    return [bytes(chunk) for chunk in chunks]


def _direction(client, server, to_server, to_client):
    """Which side shut its sending direction: 'client' or 'server', from the states, checked against the bytes."""
    shut = [side for side, row in (("client", client), ("server", server)) if row.state in _SHUT]
    states = f"the client is {client.state} and the server's end {server.state}"
    if not shut:
        if client.state == server.state == "ESTABLISHED":
            raise ArgumentError(f"Neither side has shut its direction: {states}. Call shutdown(SHUT_WR) on one "
                                f"of them first, then ask the kernel again ({_HALF_EXAMPLE}).")
        raise ArgumentError(f"This is not a half-close: {states}, and in a half-close one side is in FIN_WAIT1 or "
                            f"FIN_WAIT2 while the other still may send; ask right after the first shutdown, "
                            f"{_HALF_EXAMPLE}.")
    if len(shut) == 2:
        raise ArgumentError(f"Both sides have sent a FIN ({states}), so both directions are shut, not half; ask "
                            f"the kernel before the second side closes, {_HALF_EXAMPLE}.")
    sender = shut[0]
    receiver_row = server if sender == "client" else client
    if receiver_row.state not in ("CLOSE_WAIT", "ESTABLISHED"):
        raise ArgumentError(f"This is not a half-close: {states}, but the side that did not shut must be in "
                            f"CLOSE_WAIT (or ESTABLISHED while the FIN is on its way); ask right after the first "
                            f"shutdown, {_HALF_EXAMPLE}.")
    open_chunks, open_name = (to_client, "to_client") if sender == "client" else (to_server, "to_server")
    if open_chunks and open_chunks[-1] == b"":
        raise ArgumentError(f"{open_name} ends with b'', which says that direction was shut, but the kernel says "
                            f"only the {sender} shut its side ({states}); are to_server and to_client swapped?")
    return sender


def _state_lines(state: str, width: int = 28) -> list[str]:
    return textwrap.wrap(MEANING[KERNEL_NAMES[state]], width)


def _fit(texts: list[str], budget: int) -> list[str]:
    """The texts, the longest shortened first, until together they fit `budget` characters."""
    texts = list(texts)
    for _ in range(200):  # each pass takes one character off; bounded all the same
        longest = max(range(len(texts)), key=lambda i: len(texts[i]), default=None)
        if longest is None or sum(map(len, texts)) <= budget or len(texts[longest]) <= 10:
            return texts
        texts[longest] = shorten(texts[longest], len(texts[longest]) - 1)
    return texts


def _pipe(ax, y, start, end, chunks, *, shut: bool, colour: str, key: str, sender: str, chars_per_unit: float):
    """One direction, from x = start to x = end: what recv() returned, the first bytes nearest the receiver.

    Bytes queue up from the receiving end backwards, as in a real pipe: the
    first to arrive sits at the far end, and a FIN comes after the last byte.
    Behind the FIN, at the sender's end, the pipe is hatched: nothing more
    can go in. An open pipe leaves that end free.
    """
    height, left, right = 0.62, min(start, end), max(start, end)
    towards = 1 if end > start else -1   # the direction the bytes move along x
    ax.add_patch(Rectangle((left, y - height / 2), right - left, height, facecolor="#F7F7F7", edgecolor=colour,
                           linewidth=2.2, gid=f"half:pipe:{key}"))
    data = [chunk for chunk in chunks if chunk]
    shown = data[:MAX_CHUNKS]
    fin_w, free_w = 0.95, 1.3
    room = right - left - fin_w - free_w
    texts = _fit([repr(chunk) for chunk in shown], int(room * chars_per_unit))
    weights = [max(7, len(text)) + 1.5 for text in texts]
    scale = min(room / sum(weights), 1 / chars_per_unit) if weights else 0
    x = end - towards * 0.08   # the receiving end: the first bytes sit there
    for index, (chunk, text, weight) in enumerate(zip(shown, texts, weights)):
        width = weight * scale
        x0 = x - width if towards == 1 else x
        ax.add_patch(FancyBboxPatch((x0 + 0.04, y - 0.22), width - 0.08, 0.44, boxstyle="round,pad=0.01",
                                    facecolor="white", edgecolor=colour, linewidth=1.1,
                                    gid=f"half:chunk:{key}:{index}"))
        ax.text(x0 + width / 2, y - 0.06, text, ha="center", va="center", fontsize=8.5, family="monospace",
                gid=f"half:bytes:{key}:{index}")
        ax.text(x0 + width / 2, y + 0.12, f"{len(chunk)} B", ha="center", va="center", fontsize=7.5, color="0.35",
                gid=f"half:size:{key}:{index}")
        x -= towards * width
    if shut:
        x0 = x - fin_w if towards == 1 else x
        ax.add_patch(Rectangle((x0 + 0.05, y - height / 2), fin_w - 0.1, height, facecolor=PALETTE["black"],
                               gid=f"half:fin:{key}"))
        seen = bool(chunks) and chunks[-1] == b""
        ax.text(x0 + fin_w / 2, y, "FIN" + ("\nrecv()\n→ b''" if seen else ""), ha="center", va="center",
                fontsize=8.5, color="white", fontweight="bold", gid=f"half:fin-label:{key}")
        back = (start, x0) if towards == 1 else (x0 + fin_w, start)
        ax.add_patch(Rectangle((back[0], y - height / 2), back[1] - back[0], height, facecolor="none",
                               edgecolor="0.6", hatch="///", linewidth=0, gid=f"half:closed:{key}"))
        ax.text(sum(back) / 2, y, f"shut: the {sender}\nsends no more", ha="center", va="center", fontsize=8.5,
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
                gid=f"half:closed-label:{key}")
    else:
        ax.add_patch(FancyArrowPatch((start + towards * 0.15, y), (start + towards * (free_w - 0.1), y),
                                     arrowstyle="-|>", mutation_scale=18, color=colour, linewidth=2,
                                     gid=f"half:open:{key}"))
        ax.text(start + towards * free_w / 2, y + 0.17, "open", ha="center", va="center", fontsize=8.5,
                color=colour, gid=f"half:open-label:{key}")
    return sum(len(chunk) for chunk in data), len(data) - len(shown)


def half_close(states, *, to_server, to_client, ax=None, title=None):
    """The two directions of one connection as two one-way pipes: the one its sender shut ends in a FIN.

    states: what kernel.states(listener, client) returned right after one
        side's shutdown(SHUT_WR): that side in FIN_WAIT1 or FIN_WAIT2, the
        other in CLOSE_WAIT. Which pipe is shut is read from these states.
    to_server: what the server's recv() calls returned, in order; a final
        b"" is the end of the stream (the client's FIN arrived).
    to_client: what the client's recv() calls returned, in order.
    """
    client, server = _one_connection(_rows(states, _HALF_EXAMPLE))
    to_server, to_client = _chunks(to_server, "to_server"), _chunks(to_client, "to_client")
    sender = _direction(client, server, to_server, to_client)
    given = ax is not None
    ax = new_axes(ax, (11.5, 4.6))
    end_w, pipe_l, pipe_r = 2.2, 2.45, 9.25
    span = pipe_r + 0.35 + end_w + 0.1
    fit = _CHARS_PER_UNIT
    if given:
        # Someone else's Axes may be narrower: fit the bytes to its real width (0.602 em a monospace character).
        fit = min(fit, axes_size(ax)[0] / span / (0.602 * 8.5))
    top, bottom = 0.0, 1.7
    for role, row, x, label in (("client", client, 0.0, "client"), ("server", server, pipe_r + 0.25, "server's end")):
        _box(ax, x, -0.65, end_w, 3.0, ROLE_COLOURS[role], gid=f"half:end:{role}")
        ax.text(x + end_w / 2, -0.45, label, ha="center", va="top", fontsize=10.5, fontweight="bold",
                gid=f"half:title:{role}")
        ax.text(x + end_w / 2, -0.1, row.local, ha="center", va="top", fontsize=9, family="monospace",
                gid=f"half:address:{role}")
        ax.text(x + end_w / 2, 0.45, row.state, ha="center", va="center", fontsize=12, fontweight="bold",
                gid=f"half:state:{role}")
        ax.text(x + end_w / 2, 0.75, "\n".join(_state_lines(row.state)), ha="center", va="top", fontsize=8.5,
                color="0.2", gid=f"half:meaning:{role}")

    flows = (("to_server", top, pipe_l, pipe_r, to_server, sender == "client", "client → server"),
             ("to_client", bottom, pipe_r, pipe_l, to_client, sender == "server", "server → client"))
    for key, y, start, end, chunks, shut, name in flows:
        colour = PALETTE["blue"] if key == "to_server" else PALETTE["vermillion"]
        total, more = _pipe(ax, y, start, end, chunks, shut=shut, colour=colour, key=key,
                            sender="client" if key == "to_server" else "server", chars_per_unit=fit)
        carried = f"{total} byte{'s' if total != 1 else ''}" + (f" (in {more} more recv() not drawn)" if more else "")
        what = f"{carried}, then the FIN: shut" if shut else f"{carried} so far: still open"
        ax.text((pipe_l + pipe_r) / 2, y - 0.4, f"{name}: {what}", ha="center", va="bottom", fontsize=10,
                color=colour, fontweight="bold", gid=f"half:label:{key}")

    ax.set_xlim(-0.1, span - 0.1)
    ax.set_ylim(2.45, -0.8)
    _plain(ax)
    ax.set_title(title or f"Half-close: the {sender} shut its direction, the other still carries bytes", fontsize=12)
    return ax
