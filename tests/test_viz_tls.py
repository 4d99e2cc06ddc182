"""Tests of chapter 05's pictures (sockcourse.viz.tls), drawn from real TLS and QUIC traffic.

They look at what was drawn (lines, bars, texts, arrows), not at pixels.
"""

from __future__ import annotations

import socket

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_rgba
from matplotlib.text import Annotation

from sockcourse import handlers, handshake, serve, tls, viz
from sockcourse.link import link
from sockcourse.viz import style
from sockcourse.viz import tls as vtls

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def costs():
    """One real measurement for the module: short delay, one run each, its own throw-away CA."""
    return handshake.measure(delay=0.01, repeats=1)


def seen_by_link(ca, secure: bool) -> bytes:
    letter = b"Please move 1000 EUR to account 12345678. My password is hunter2.\n" * 3
    with serve(handlers.echo, tls=ca if secure else None) as server, \
            link(server.address, chunk=256, gap=0) as relay:
        with socket.create_connection(relay.address, timeout=5) as raw:
            client = ca.client_context().wrap_socket(raw, server_hostname="localhost") if secure else raw
            with client:
                client.sendall(letter)
                got = b""
                while len(got) < len(letter):
                    got += client.recv(4096)
    return b"".join(hop.data for hop in relay.record)


def test_byte_values_draws_one_line_per_sample_with_its_share(ca):
    plain, secure = seen_by_link(ca, False), seen_by_link(ca, True)
    ax = viz.byte_values({"plaintext": plain, "TLS": secure})
    lines = [line for line in ax.get_lines() if line.get_label() in ("plaintext", "TLS")
             or line.get_label().startswith(("plaintext (", "TLS ("))]
    assert len(lines) == 2
    shares = {line.get_label().split(" (")[0]: list(line.get_ydata()) for line in lines}
    assert abs(sum(shares["plaintext"]) - 100) < 1e-6 and abs(sum(shares["TLS"]) - 100) < 1e-6
    # Text piles up on few values; TLS bytes spread over many.
    assert max(shares["plaintext"]) > 3 * max(shares["TLS"][1:])
    assert sum(1 for share in shares["plaintext"] if share > 0) < 40
    assert sum(1 for share in shares["TLS"] if share > 0) > 200
    assert ax.get_xlabel() == "byte value" and "%" in ax.get_ylabel() and ax.get_title()
    assert to_rgba(lines[0].get_color()) == to_rgba(style.PALETTE["vermillion"])


def test_byte_values_refuses_what_it_cannot_draw():
    with pytest.raises(TypeError, match="Expected a dict"):
        viz.byte_values(b"bytes")
    with pytest.raises(ValueError, match="The sample 'x' must be non-empty bytes"):
        viz.byte_values({"x": b""})


def test_certificate_checks_marks_each_broken_rule(ca):
    with tls.CertificateAuthority("stranger") as stranger:
        certificates = {"good": ca.server_cert, "stranger": stranger.server_cert,
                        "other name": ca.issue("other.example"), "expired": ca.issue("localhost", expired=True)}
        rows = [{"case": case, "checks": tls.check_certificate(cert, ca, "localhost"),
                 "verdict": "connected" if case == "good" else "SSLCertVerificationError"}
                for case, cert in certificates.items()]
    fig, ax = plt.subplots()
    assert viz.certificate_checks(rows, ax=ax) is ax
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("✗ no") == 3 and texts.count("✓ yes") == 9
    for name in tls.CHECKS:
        assert any(name.split()[0] in t for t in texts)
    failed = [t for t in ax.texts if t.get_text() == "✗ no"]
    assert all(to_rgba(t.get_bbox_patch().get_facecolor()) == to_rgba(style.PALETTE["vermillion"]) for t in failed)
    with pytest.raises(ValueError, match="must be a dict with 'case', 'checks' and 'verdict'"):
        viz.certificate_checks([{"case": "x"}])


def test_handshake_costs_draws_setup_and_request_bars_with_the_claim(costs):
    fig, ax = plt.subplots()
    assert viz.handshake_costs(costs, ax=ax) is ax
    bars = ax.patches
    assert len(bars) == 2 * len(costs.protocols)  # set-up and the request's round trip, stacked
    rtt_ms = costs.rtt * 1000
    for index, row in enumerate(costs.rows()):
        setup, request = bars[2 * index], bars[2 * index + 1]
        assert setup.get_height() + request.get_height() == pytest.approx(row["ms"])
        assert request.get_height() == pytest.approx(min(rtt_ms, row["ms"]))
    assert [t.get_text() for t in ax.get_xticklabels()] == costs.protocols
    labels = [t.get_text() for t in ax.texts]
    for label, row in zip(labels, costs.rows()):
        trips = row["round_trips"]
        assert label.endswith(f"= {trips} round trip{'s' * (trips != 1)}") and label.startswith(f"{row['ms']:.0f} ms")
    claims = [line for line in ax.get_lines() if line.get_linewidth() == 3]
    assert len(claims) == len(costs.protocols)
    # The claim is for 100 ms round trips; on this 20 ms link it is drawn scaled to 20 %.
    tcp_claim = claims[0].get_ydata()
    assert max(tcp_claim) == pytest.approx(100 * rtt_ms / 100, abs=rtt_ms * 0.05)
    assert "ms" in ax.get_ylabel() and "round trip" in ax.get_xlabel()


def test_handshake_ladders_draws_every_hop_and_a_star_per_protocol(costs):
    fig, ax = plt.subplots()
    assert viz.handshake_ladders(costs, ax=ax) is ax
    arrows = [child for child in ax.get_children() if isinstance(child, Annotation)]
    tcp_like = sum(1 for p in costs.protocols if p.startswith("TCP"))
    hops = sum(1 for _, hops in costs.ladders.values() for hop in hops if hop.nbytes and hop.action != "dropped")
    assert len(arrows) >= 2 * tcp_like + 0.5 * hops  # the emulated SYN, SYN+ACK, and the hops in view
    colours = {to_rgba(a.arrow_patch.get_edgecolor()) for a in arrows}
    assert {to_rgba(style.TO_SERVER), to_rgba(style.TO_CLIENT)} <= colours
    stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
    assert len(stars) == len(costs.protocols)
    for star, protocol in zip(stars, costs.protocols):
        assert star.get_xdata()[0] == pytest.approx(costs.of(protocol)[-1].milliseconds)
    assert "ms" in ax.get_xlabel()


def test_cost_pictures_refuse_something_else():
    with pytest.raises(TypeError, match=r"Expected the result of sockcourse.handshake.measure\(\)"):
        viz.handshake_costs([1, 2, 3])
    with pytest.raises(ValueError, match="holds no protocols"):
        vtls.handshake_ladders(handshake.HandshakeCosts(0.05))


def test_the_claims_drawn_are_those_the_costs_carry(costs):
    import dataclasses

    own = dataclasses.replace(costs, claims={"TCP": (50, 50)})
    fig, ax = plt.subplots()
    viz.handshake_costs(own, ax=ax)
    claims = [line for line in ax.get_lines() if line.get_linewidth() == 3]
    assert len(claims) == 1, "only the TCP family has a claim now"
    assert max(claims[0].get_ydata()) == pytest.approx(50 * costs.rtt * 1000 / 100, abs=costs.rtt * 1000 * 0.05)
    fig, ax = plt.subplots()
    viz.handshake_costs(dataclasses.replace(costs, claims={}), ax=ax)
    assert not [line for line in ax.get_lines() if line.get_linewidth() == 3]
    with pytest.raises(TypeError, match=r"claim must be a dict"):
        viz.handshake_costs(costs, claim=[(1, 2)])


def test_drawing_handshake_costs_imports_no_measurement():
    # viz may import only core and protocols: drawing must not pull in the
    # measurement (and with it aioquic and trustme). Checked in a fresh process
    # (`import sockcourse` itself brings the servers, the package's face).
    import subprocess
    import sys

    code = """
import sys
import matplotlib
matplotlib.use("Agg")
from sockcourse.viz import tls as vtls

class Costs:  # plain data of the shape measure() returns
    delay, rtt = 0.05, 0.1
    claims = {"TCP": (100, 100)}
    def rows(self):
        return [{"protocol": "TCP", "ms": 201.0, "round_trips": 2}]

vtls.handshake_costs(Costs())
loaded = sorted(name for name in sys.modules if name.startswith(("aioquic", "trustme", "sockcourse.bench",
                                                                 "sockcourse.tls", "sockcourse.link")))
print(loaded)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


# -- the TLS 1.3 handshake and the chain of trust -------------------------------------------
def relayed(ca):
    with serve(handlers.echo, tls=ca) as server, link(server.address, chunk=256, gap=0) as relay:
        with socket.create_connection(relay.address, timeout=5) as raw:
            with ca.client_context().wrap_socket(raw, server_hostname="localhost") as client:
                client.sendall(b"hello")
                assert client.recv(100) == b"hello"
                cert = client.getpeercert()
    return relay.record, cert


def test_chain_of_trust_shows_the_certificate_and_a_mark_per_check(ca):
    _, cert = relayed(ca)
    fig, ax = plt.subplots()
    assert viz.tls.chain_of_trust(cert, tls.check_certificate(ca.server_cert, ca, "localhost"), "localhost", ax=ax) is ax
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "DNS localhost" in texts and "IP Address 127.0.0.1" in texts and "OU=sockcourse course CA" in texts
    assert [t.get_text() for t in ax.texts].count("✓") == 2 and "✓ and today is within" in texts
    with tls.CertificateAuthority("stranger") as stranger:
        # The same certificate, judged by a client that trusts only a stranger: the first link breaks.
        fig, ax = plt.subplots()
        viz.tls.chain_of_trust(cert, tls.check_certificate(ca.server_cert, stranger, "other.example"),
                               "other.example", ax=ax)
    marks = [t for t in ax.texts if t.get_text() in ("✓", "✗")]
    assert [t.get_text() for t in marks] == ["✗", "✗"]
    assert all(to_rgba(t.get_color()) == to_rgba(style.PALETTE["vermillion"]) for t in marks)
    with pytest.raises(TypeError, match="Expected the dict that SSLSocket.getpeercert"):
        viz.tls.chain_of_trust({}, {}, "localhost")


def test_every_chapter_05_picture_has_text_of_9_points_or_more_and_fits_a_browser(ca, costs):
    hops, cert = relayed(ca)
    pictures = [
        viz.byte_values({"plaintext": b"hello world", "TLS": bytes(range(256))}),
        viz.certificate_checks([{"case": "good", "checks": tls.check_certificate(ca.server_cert, ca, "localhost"),
                                 "verdict": "connected with TLSv1.3"}]),
        viz.handshake_costs(costs),
        viz.handshake_ladders(costs),
        viz.tls.chain_of_trust(cert, tls.check_certificate(ca.server_cert, ca, "localhost"), "localhost"),
        viz.tls_messages(tls.record_handshake(ca)),
        viz.trust_chain(_four_chains(ca)),
    ]
    for ax in pictures:
        figure = ax.get_figure()
        # 10 inches at 100 dpi is 1000 px: a 1400 px window with the file browser open shows it unshrunk.
        assert figure.get_figwidth() <= 10.0, ax.get_title()
        small = [t.get_text() for t in figure.findobj(lambda o: hasattr(o, "get_fontsize") and hasattr(o, "get_text"))
                 if t.get_text().strip() and t.get_fontsize() < 9]
        assert not small, (ax.get_title(), small)
        plt.close(figure)


def test_a_claim_of_one_value_is_drawn_as_wide_as_a_range_is_tall_enough_to_see(costs):
    fig, ax = plt.subplots()
    viz.handshake_costs(costs, ax=ax)
    claims = [line for line in ax.get_lines() if line.get_linewidth() == 3]
    tcp = claims[0]  # TCP's claim is one value, 100 ms
    assert len(set(tcp.get_ydata())) == 1 and max(tcp.get_xdata()) - min(tcp.get_xdata()) >= 0.1


def test_what_crosses_after_the_reply_is_greyed_and_said(costs):
    import dataclasses

    protocol = "QUIC"
    start, hops = costs.ladders[protocol]
    reply_at = start + costs.of(protocol)[-1].seconds
    # A piece that leaves the client just after the reply arrived, as its ACK does. It lands 1 ms later,
    # well inside the picture, which ends 0.35 round trips after the slowest reply (QUIC's, in some runs).
    late = dataclasses.replace(hops[0], t=reply_at + 0.003, held=0.001)
    own = dataclasses.replace(costs, ladders={**costs.ladders, protocol: (start, [*hops, late])})
    fig, ax = plt.subplots()
    viz.handshake_ladders(own, ax=ax)
    texts = [t.get_text() for t in ax.texts]
    assert vtls.AFTER_THE_REPLY[protocol] in texts
    grey = [a for a in ax.get_children() if isinstance(a, Annotation)
            and to_rgba(a.arrow_patch.get_edgecolor()) == to_rgba(vtls._AFTER)]
    assert grey
    # Without the late piece (and with none in the run), no label is drawn for that strip.
    bare = dataclasses.replace(costs, ladders={**costs.ladders, protocol: (start, [h for h in hops if h.t - h.held < reply_at])})
    fig, ax = plt.subplots()
    viz.handshake_ladders(bare, ax=ax)
    assert vtls.AFTER_THE_REPLY[protocol] not in [t.get_text() for t in ax.texts]


# -- the handshake by message name, and where each chain of trust breaks -----------------------------
def _by_gid(ax, gid):
    return [artist for artist in ax.get_children() if artist.get_gid() == gid]


def test_tls_messages_names_every_message_and_bands_the_encrypted_ones(ca, tmp_path):
    from sockcourse.tls.messages import record_handshake

    messages = record_handshake(ca)
    fig, ax = plt.subplots()
    assert viz.tls_messages(messages, ax=ax) is ax
    fig.savefig(tmp_path / "tls_messages.png")
    arrows = _by_gid(ax, "tls_messages:arrow")
    assert len(arrows) == len(messages)
    assert [t.get_text() for t in _by_gid(ax, "tls_messages:name")] == [m.name for m in messages]
    for arrow, m in zip(arrows, messages):
        (x0, _), (x1, _) = arrow.xyann, arrow.xy
        assert (x0 < x1) == (m.sender == "client"), m  # client left, server right
        if m.name != "change_cipher_spec":
            assert to_rgba(arrow.arrow_patch.get_edgecolor()) == to_rgba(
                style.TO_SERVER if m.sender == "client" else style.TO_CLIENT)
    assert len(_by_gid(ax, "tls_messages:encrypted")) == sum(m.encrypted for m in messages) > 0
    wire = [t.get_text() for t in _by_gid(ax, "tls_messages:wire")]
    certificate = next(m for m in messages if m.name == "Certificate")
    assert f"application_data, {certificate.record_size:,} B" in wire
    (done,) = _by_gid(ax, "tls_messages:handshake-done")
    tickets = [t for t in _by_gid(ax, "tls_messages:name") if t.get_text() == "NewSessionTicket"]
    assert tickets and all(t.get_position()[1] > done.get_ydata()[0] for t in tickets)  # below the line: after
    assert "wrap_socket() returns: the handshake is complete" in [t.get_text() for t in ax.texts]
    plt.close(fig)


def test_tls_messages_draws_a_tls12_handshake_and_plain_dicts_too(ca):
    import ssl

    from sockcourse.tls.messages import record_handshake

    messages = record_handshake(ca, version=ssl.TLSVersion.TLSv1_2)
    ax = viz.tls_messages(messages)
    names = [t.get_text() for t in _by_gid(ax, "tls_messages:name")]
    assert "ServerHelloDone" in names and "EncryptedExtensions" not in names
    assert len(_by_gid(ax, "tls_messages:encrypted")) == sum(m.encrypted for m in messages)
    plt.close(ax.figure)
    rows = [{"sender": "client", "name": "ClientHello", "encrypted": False, "outer": "handshake", "record_size": 517,
             "after_handshake": False}]
    ax = viz.tls_messages(rows)
    assert [t.get_text() for t in _by_gid(ax, "tls_messages:wire")] == ["handshake, 517 B"]
    assert not _by_gid(ax, "tls_messages:handshake-done") and not _by_gid(ax, "tls_messages:encrypted")
    plt.close(ax.figure)


def test_tls_messages_refuses_malformed_messages_in_a_sentence():
    good = {"sender": "client", "name": "ClientHello", "encrypted": False, "outer": "handshake", "record_size": 517,
            "after_handshake": False}
    with pytest.raises(TypeError, match=r"Expected the messages of one TLS conversation"):
        viz.tls_messages([])
    with pytest.raises(ValueError, match=r"Message 0 lacks some of sender, name, encrypted"):
        viz.tls_messages([{"sender": "client"}])
    with pytest.raises(ValueError, match=r"sent by 'relay'; the sender must be 'client' or 'server'"):
        viz.tls_messages([{**good, "sender": "relay"}])
    with pytest.raises(ValueError, match=r"Message 1 \('ClientHello'\) belongs to the handshake but comes after"):
        viz.tls_messages([{**good, "after_handshake": True}, good])


def _four_chains(ca):
    from sockcourse.tls.chain import chain_facts

    with tls.CertificateAuthority("a stranger's CA") as stranger:
        certificates = {"good": ca.server_cert, "stranger": stranger.server_cert,
                        "other name": ca.issue("other.example"), "expired": ca.issue("localhost", expired=True)}
        return [chain_facts(cert, ca, "localhost", case=case) for case, cert in certificates.items()]


def test_trust_chain_marks_the_link_each_certificate_breaks(ca, tmp_path):
    chains = _four_chains(ca)
    fig, ax = plt.subplots(figsize=(10, 6))
    assert viz.trust_chain(chains, ax=ax) is ax
    fig.savefig(tmp_path / "trust_chain.png")
    assert len(_by_gid(ax, "trust_chain:card")) == 4
    store = _by_gid(ax, "trust_chain:store")[0].get_text()
    assert "OU=sockcourse course CA" in store and "(self-signed)" in store and "may sign others: yes" in store
    for index, chain in enumerate(chains):
        lines = [t.get_text() for t in _by_gid(ax, f"trust_chain:card{index}")]
        assert lines[0] == chain.case
        assert lines[1] == ("✓ " if chain.signed else "✗ ") + f"issuer: {chain.leaf.issuer}"
        assert lines[2].startswith("✓ subjectAltName" if chain.matched else "✗ subjectAltName")
        dates = f"valid {chain.leaf.not_before} to {chain.leaf.not_after}"
        assert lines[3] == ("✓ " if chain.in_dates else "✗ ") + dates
        to_card, to_name = _by_gid(ax, f"trust_chain:link{index}")
        for arrow, ok in ((to_card, chain.signed), (to_name, chain.matched is not None)):
            colour = to_rgba(arrow.arrow_patch.get_edgecolor())
            assert colour == to_rgba(style.PALETTE["bluish green" if ok else "vermillion"]), (chain.case, ok)
    # Exactly one rule broken per bad certificate: one red link or one red date line each.
    red_links = sum(to_rgba(a.arrow_patch.get_edgecolor()) == to_rgba(style.PALETTE["vermillion"])
                    for index in range(4) for a in _by_gid(ax, f"trust_chain:link{index}"))
    assert red_links == 2 and "'localhost'" in ax.get_title()
    plt.close(fig)


def test_trust_chain_refuses_malformed_chains_in_a_sentence(ca):
    chains = _four_chains(ca)
    with pytest.raises(TypeError, match=r"Expected a non-empty list of chains"):
        viz.trust_chain([])
    with pytest.raises(ValueError, match=r"Chain 0 lacks some of case, anchor, leaf"):
        viz.trust_chain([{"case": "x"}])
    import dataclasses

    other = dataclasses.replace(chains[1], hostname="other.example")
    with pytest.raises(ValueError, match=r"Every chain must be followed by one client"):
        viz.trust_chain([chains[0], other])
