"""q2 with one mistake: /etc/services read by hand, its first column only, so aliases are unknown."""
QUESTION = "00_history.q2"
EXPECT = {"fails": ["aliases"], "hint": "aliases", "passes": ["known", "unknown", "udp-only", "two-calls"]}


def answer(names):
    table = {}
    with open("/etc/services") as lines:
        for line in lines:
            fields = line.split()
            if len(fields) >= 2 and not fields[0].startswith("#") and fields[1].endswith("/tcp"):
                table.setdefault(fields[0], int(fields[1].split("/")[0]))
    return {name: table.get(name) for name in names}
