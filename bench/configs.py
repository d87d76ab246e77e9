"""The configurations the bench compares, each judging the same thing (the
destination address): no filter; palisade with K CIDRs for the "bench"
container; palisade loaded with the client outside every container
(palisade-host: what node-wide hooks cost everyone); programs that do nothing
on palisade's cgroup hooks (floor: what the hooks cost, which no policy engine
on them can go under; they judge nothing); iptables and nftables
with K rules, each in a container namespace of its own whose rules live in
that namespace only.

The K filler rules are distinct /32s scattered over 198.18.1.0-198.19.255.255
(rule entries, never destinations); fillerAddress in tests/common/packets.h
walks the same addresses for the C++ bench tools."""

import time
from pathlib import Path

from common import BenchError, log, run
from sandbox import BRIDGE_IP

DENIED_IP = "198.18.0.2"  # never allowed by any bench policy
FLIP_IP = "198.18.0.4"  # allowed or not, depending on the reload
FILLER_BASE = (198 << 24) | (18 << 16) | (1 << 8)  # 198.18.1.0
FILLER_SPAN = 130816  # .. 198.19.255.255
FILLER_STRIDE = 7919  # prime, coprime with the span: a scattered, distinct walk


def filler(i):
    a = FILLER_BASE + (i * FILLER_STRIDE) % FILLER_SPAN
    return f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"


def fillers(k):
    if k > FILLER_SPAN:
        raise BenchError(f"at most {FILLER_SPAN} filler rules")
    return [filler(i) for i in range(k)]


def policy_yaml(name, selector_name, cidrs, allow):
    """A ContainerPolicy with one rule of `cidrs` and one allowing `allow`."""
    lines = [
        "apiVersion: palisade.dev/v1",
        "kind: ContainerPolicy",
        f"metadata: {{name: {name}}}",
        "spec:",
        f'  selector: {{name: "{selector_name}"}}',
        "  mode: enforce",
        "  egress:",
    ]
    if cidrs:
        lines.append("    - toCIDR:")
        lines.extend(f"        - {c}/32" for c in cidrs)
    lines.append("    - toCIDR: [" + ", ".join(f"{a}/32" for a in allow) + "]")
    return "\n".join(lines) + "\n"


def palisade_policies(k, flip=False):
    """The agent's policy directory for the "bench" container with K rules."""
    allow = [BRIDGE_IP] + ([FLIP_IP] if flip else [])
    return {"bench.yaml": policy_yaml("bench", "bench", fillers(k), allow)}


def iptables_rules(k):
    """iptables-restore input: a linear OUTPUT chain, stateless."""
    lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]",
             ":OUTPUT ACCEPT [0:0]", "-A OUTPUT -o lo -j ACCEPT"]
    lines += [f"-A OUTPUT -d {a}/32 -j ACCEPT" for a in fillers(k)]
    lines += [f"-A OUTPUT -d {BRIDGE_IP}/32 -j ACCEPT", "-A OUTPUT -j DROP", "COMMIT", ""]
    return "\n".join(lines)


def nft_rules(k):
    """An nft script: one interval set of the K+1 prefixes, policy drop."""
    elems = ",\n".join(f"{a}/32" for a in fillers(k) + [BRIDGE_IP])
    return (
        "table ip palbench {\n"
        "  set allow4 { type ipv4_addr; flags interval; elements = {\n"
        f"{elems}\n  }} }}\n"
        "  chain output { type filter hook output priority 0; policy drop;\n"
        '    oif "lo" accept; ip daddr @allow4 accept; }\n}\n'
    )


def configuration(name, mech, k, netns, **extra):
    return {"name": name, "mech": mech, "k": k, "netns": netns, **extra}


def load_iptables(sb, k, backend):
    ns = sb.add_container_netns()
    path = Path(sb.work) / f"iptables-{k}.rules"
    path.write_text(iptables_rules(k))
    t = time.monotonic()
    with open(path) as f:
        run(["ip", "netns", "exec", ns, f"iptables-{backend}-restore"], stdin_file=f,
            timeout=600)
    log(f"iptables-{backend}: {k} rules loaded in {time.monotonic() - t:.2f}s")
    return configuration(f"iptables-{k}", "iptables", k, ns, load_s=time.monotonic() - t)


def load_nftables(sb, k):
    ns = sb.add_container_netns()
    path = Path(sb.work) / f"nft-{k}.nft"
    path.write_text(nft_rules(k))
    t = time.monotonic()
    run(["ip", "netns", "exec", ns, "nft", "-f", str(path)], timeout=600)
    log(f"nftables: interval set of {k} prefixes loaded in {time.monotonic() - t:.2f}s")
    return configuration(f"nftables-{k}", "nftables", k, ns, load_s=time.monotonic() - t)


def setup(args, sb):
    """The container netns c0 (no filter and palisade: the cgroup decides) and
    every configuration args asks for, iptables and nftables rules loaded
    once. Returns (c0, configurations), "none" first."""
    c0 = sb.add_container_netns()
    configs = [configuration("none", "none", 0, c0)]
    configs += [configuration(f"palisade-{k}", "palisade", k, c0) for k in args.rules]
    configs.append(configuration("palisade-host", "palisade-host", 10, c0))
    configs.append(configuration("floor", "floor", 0, c0))
    wanted = set(args.mechanisms)
    if "iptables" in wanted:
        configs += [load_iptables(sb, k, args.iptables) for k in args.rules]
    if "nftables" in wanted:
        configs += [load_nftables(sb, k) for k in args.rules]
    if "palisade" in wanted:
        wanted |= {"palisade-host", "floor"}
    return c0, [c for c in configs if c["mech"] in wanted | {"none"}]


def cgroup_of(sb, config):
    return sb.bench_cg if config["mech"] in ("palisade", "floor") else sb.plain_cg


def verify(b, config):
    """The configuration does what it claims: the target is reachable and
    another address in the same subnet is refused (EPERM)."""
    cg = cgroup_of(b.sb, config)
    ok = b.nb.sendto(BRIDGE_IP, config["netns"], cg)
    if ok["errors"]:
        raise BenchError(f"{config['name']}: the target is not reachable: {ok['errors']}")
    if config["mech"] in ("none", "palisade-host", "floor"):
        return
    denied = b.nb.sendto(DENIED_IP, config["netns"], cg)
    if set(denied["errors"]) != {"EPERM"} or denied["ops"]:
        raise BenchError(f"{config['name']}: {DENIED_IP} is not refused: {denied}")
