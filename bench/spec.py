"""The targets of docs/reference/targets.md, each as a row of the report: what was measured and
whether it meets the target."""

from common import median


def verdict(ok):
    return "meets" if ok else "**misses**"


def rate_rows(data, summary):
    """connect()/sendto() within 3% / 8% of no filter at the largest rule
    count, and flat across rule counts."""
    ks = [c["k"] for c in data["configs"] if c["mech"] == "palisade"]
    kmax = max(ks) if ks else None
    if not kmax:
        return []
    rows = []
    for t, target, label in (("tcp", 1.03, "TCP connect+close within 3% of no filter"),
                             ("udp", 1.08, "UDP sendto within 8% of no filter")):
        s = summary.get((f"palisade-{kmax}", t))
        if s and s.get("total") is not None:
            rows.append([f"{label} with {kmax:,} CIDRs",
                         f"×{s['total']:.3f} (×{s['ratio']:.3f} in the container, "
                         f"quartiles {s['q1']:.2f}–{s['q3']:.2f}, times "
                         f"{s['total'] / s['ratio']:.3f} node-wide)",
                         verdict(s["total"] <= target)])
    for t, label in (("tcp", "TCP connect+close"), ("udp", "UDP sendto")):
        s = summary.get((f"palisade-{kmax}", t))
        f = summary.get(("floor", t))
        if s and f and s.get("ratio") and f.get("ratio"):
            # Both against a process outside the programs' cgroup: the cgroup hooks' cost,
            # palisade's logic against none.
            r = s["ratio"] / f["ratio"]
            rows.append([f"{label} within 2% of the hooks alone (programs that do nothing) "
                         f"with {kmax:,} CIDRs",
                         f"×{r:.3f} (×{s['ratio']:.3f} ÷ ×{f['ratio']:.3f})",
                         verdict(r <= 1.02)])
    for t in ("tcp", "udp"):
        rs = [summary.get((f"palisade-{k}", t), {}).get("ratio") for k in ks]
        rs = [r for r in rs if r is not None]
        if len(rs) > 1:
            rows.append([f"{t.upper()} cost flat from {min(ks):,} to {kmax:,} rules "
                         "(spread of the in-container ratios)",
                         f"×{min(rs):.3f} … ×{max(rs):.3f}",
                         verdict(max(rs) - min(rs) <= (0.03 if t == "tcp" else 0.08))])
    return rows


def bpf_rows(data):
    worst = 0
    for res in data["bpf_stats"].values():
        for t, p in (("tcp", "pal_connect4"), ("udp", "pal_sendmsg4")):
            x = next((x for x in res[t] if x["name"] == p), None)
            if x:
                worst = max(worst, x["ns_per_run"])
    return [["one decision ≤ 150 ns of BPF run time (connect4 / sendmsg4, any rule count)",
             f"{worst:.0f} ns (worst)", verdict(worst <= 150)]]


def iperf_rows(data):
    r = median([p["ratio"] for p in data["iperf"]["pairs"]])
    return [["bulk TCP throughput under the packet-level check ≥ 97%", f"{100 * r:.1f}%",
             verdict(r >= 0.97)]]


def reload_rows(data, args):
    """Reloads of the largest policy in force < 250 ms, per trigger; no wrong verdict."""
    big = [r for r in data["reload"] if r["cidrs"] == max(x["cidrs"] for x in data["reload"])]
    rows = []
    for trig in args.reload_triggers:
        vs = [r["verdict_ms"] for r in big if r["trigger"] == trig]
        ok_vs = [v for v in vs if v is not None]
        worst = max(ok_vs) if len(ok_vs) == len(vs) and vs else None
        rows.append([f"reload of {big[0]['cidrs']:,} CIDRs in force < 250 ms ({trig})",
                     (f"median {median(ok_vs):.0f} ms, worst {worst:.0f} ms" if worst
                      is not None else "not in force within the timeout"),
                     verdict(worst is not None and worst < 250)])
    wrong = sum(r["wrong"] for r in data["reload"])
    rows.append(["no wrong verdict during reloads",
                 f"{wrong} wrong of {sum(r['probes'] for r in data['reload']):,} probes",
                 verdict(wrong == 0)])
    return rows


def event_rows(data):
    ev = data["events"]
    rate = ev["events_per_cpu_s"] or 0
    rows = [["event pipeline ≥ 200,000 events/s kernel → JSON sink on one core",
             f"{rate:,.0f} events per agent CPU-second "
             f"({ev['events_per_s_wall'] or 0:,.0f}/s wall)",
             verdict(rate >= 200000)]]
    if ev.get("ns_per_allowed_connect") and ev.get("ns_per_denied_connect"):
        r = ev["ns_per_denied_connect"] / ev["ns_per_allowed_connect"]
        rows.append(["events never cost a wakeup per event (denied connect with its event "
                     "÷ allowed connect, agent busy)", f"×{r:.2f}", verdict(r <= 1.10)])
    rows.append(["ring buffer drops counted, never hidden",
                 f"{ev['ringbuf_drops']:,} dropped, {ev['lost_unaccounted']:,} unaccounted",
                 verdict(ev["lost_unaccounted"] == 0)])
    return rows


def memory_rows(data):
    m = data["memory"]
    rss = median([r["rss_kb"] for r in m["runs"]]) / 1024
    ready = median([r["ready_ms"] for r in m["runs"]])
    return [[f"agent RSS < 25 MB with {m['containers']:,} containers and "
             f"{m['rules']:,} rules", f"{rss * 1.048576:.1f} MB ({rss:.1f} MiB) VmRSS",
             verdict(rss * 1.048576 < 25)],
            ["start to enforcement < 300 ms (same set-up)", f"{ready:.0f} ms",
             verdict(ready < 300)]]


def spec_rows(data, summary, args):
    rows = rate_rows(data, summary)
    if data.get("bpf_stats"):
        rows += bpf_rows(data)
    if data.get("iperf"):
        rows += iperf_rows(data)
    if data.get("reload"):
        rows += reload_rows(data, args)
    if data.get("events"):
        rows += event_rows(data)
    if data.get("memory"):
        rows += memory_rows(data)
    return rows
