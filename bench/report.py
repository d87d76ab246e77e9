"""The report of a run (results/report.md, and docs/benchmarks.md when
published): bench/report_template.md filled in section by section with the
run's figures; a section the run did not measure is left out."""

import json
import shutil
import string
from pathlib import Path

from common import log, median
from spec import spec_rows
from summary import summarize

HERE = Path(__file__).resolve().parent
TESTS = ("tcp", "udp")
MACHINE_ROWS = (("date", "date"), ("cpu", "CPU"), ("cpus", "CPUs"),
                ("memory_gib", "memory (GiB)"), ("kernel", "kernel"), ("os", "OS"),
                ("clocksource", "clock source"), ("commit", "palisade commit"),
                ("iptables", "iptables"), ("nft", "nftables"), ("iperf3", "iperf3"))
MECH_LABELS = {"none": "no filter",
               "palisade-host": "palisade loaded, process outside containers",
               "floor": "the hooks alone (programs that do nothing)"}


class Template:
    """The pieces of report_template.md by name (the first word after "@@")."""

    def __init__(self, path=HERE / "report_template.md"):
        self.pieces = {}
        name = None
        for line in path.read_text().splitlines(keepends=True):
            if line.startswith("@@ "):
                name = line.split()[1]
                self.pieces[name] = ""
            elif name:
                self.pieces[name] += line

    def fill(self, name, **values):
        """A block of the report: the piece filled in, then one blank line."""
        return string.Template(self.pieces[name]).substitute(values).rstrip("\n") + "\n\n"

    def phrase(self, name):
        return self.pieces[name].strip()


def fmt(v, spec=".0f", none="–"):
    return none if v is None else format(v, spec)


def row(cells, empty=0):
    """A table row; `empty` blank cells at its end."""
    return "| " + " | ".join(cells) + " |" + " |" * empty


def table(rows):
    return "\n".join(row(cells) for cells in rows)


def header(t, data, args, summary):
    return t.fill("header", quick_mode=" " + t.phrase("quick_mode") if args.quick else "")


def machine(t, data, args, summary):
    info = data["machine"]
    rows = [[label, str(info.get(key))] for key, label in MACHINE_ROWS]
    if data["load"]:
        load1 = [x["load1"] for x in data["load"]]
        rows.append(["load average (1 min) during the run",
                     f"min {min(load1):.2f}, max {max(load1):.2f} (sampled at each phase)"])
    rows.append(["rounds", f"{args.rounds}; per configuration and round TCP {args.tcp_seconds} s "
                           f"+ UDP {args.udp_seconds} s on each side of an alternating run"])
    return t.fill("machine", rows=table(rows))


def spec(t, data, args, summary):
    return t.fill("spec", rows=table(spec_rows(data, summary, args)))


def _rate_cells(s, mech):
    """Rate, p50, p99, × baseline (quartiles), × no filter of one test."""
    if not s:
        return ["–"] * 5
    own = "–"
    if mech != "none" and s["ratio"] is not None:
        own = f"{s['ratio']:.3f} ({s['q1']:.2f}–{s['q3']:.2f})"
    return [f"{s['rate']:,.0f}", f"{s['p50_us']:.1f}", f"{s['p99_us']:.1f}", own,
            f"**{s['total']:.3f}**" if s.get("total") is not None else "–"]


def rates(t, data, args, summary):
    rows = []
    for c in data["configs"]:
        cells = [MECH_LABELS.get(c["mech"], c["mech"]),
                 f"{c['k']:,}" if c["k"] and c["mech"] != "palisade-host" else "–"]
        for test in TESTS:
            cells += _rate_cells(summary.get((c["name"], test)), c["mech"])
        rows.append(cells)
    return t.fill("rates", slice_ms=args.slice_ms, rounds=args.rounds, rows=table(rows))


def _rules_of(config_name):
    return f"{int(config_name.split('-')[1]):,}"


def _ns_per_run(res, test, prog):
    return fmt(next((x for x in res[test] if x["name"] == prog), {}).get("ns_per_run"))


def bpf_stats(t, data, args, summary):
    if not data.get("bpf_stats"):
        return ""
    rows = [[_rules_of(name), _ns_per_run(res, "tcp", "pal_connect4"),
             _ns_per_run(res, "udp", "pal_sendmsg4"), _ns_per_run(res, "tcp", "pal_skb_egress"),
             fmt(sum(x["ns_per_op"] for x in res["tcp"])),
             fmt(sum(x["ns_per_op"] for x in res["udp"]))]
            for name, res in data["bpf_stats"].items()]
    return t.fill("bpf_stats", blocks=args.bpf_stats_blocks, rows=table(rows))


def decide(t, data, args, summary):
    if not data.get("decide"):
        return ""
    rows = [[f"{d['cidrs']:,}", f"{d['allow_warm_ns']:.0f}", f"{d['allow_single_ns']:.0f}",
             f"{d['deny_warm_ns']:.0f}", f"{d['deny_single_ns']:.0f}",
             f"{d['fqdn_allow_warm_ns']:.0f}", f"{d['fqdn_allow_single_ns']:.0f}",
             f"{d['fqdn_deny_warm_ns']:.0f}", f"{d['fqdn_deny_single_ns']:.0f}"]
            for d in data["decide"]]
    dns = [[f"{d['cidrs']:,}", f"{d['dns_query_ns']:.0f}", f"{d['dns_answer_1_ns']:.0f}",
            f"{d['dns_answer_16_ns']:.0f}", f"{d['dns_answer_64_ns']:.0f}",
            f"{d['dns_unasked_ns']:.0f}"] for d in data["decide"]]
    return t.fill("decide", rows=table(rows), dns_rows=table(dns))


def agent_start(t, data, args, summary):
    if not data.get("agent_start_ms"):
        return ""
    rows = []
    for name, vals in data["agent_start_ms"].items():
        cpu = median(data.get("agent_cpu_share", {}).get(name, []))
        rows.append([_rules_of(name), f"{median(vals):.0f}",
                     f"{fmt(cpu * 100 if cpu is not None else None, '.1f')}%"])
    return t.fill("agent_start", rows=table(rows))


def iperf(t, data, args, summary):
    ip = data.get("iperf")
    if not ip:
        return ""
    rows = [[str(i + 1), f"{p['off_bps'] / 1e9:.2f}", f"{p['on_bps'] / 1e9:.2f}",
             f"{100 * p['ratio']:.1f}%"] for i, p in enumerate(ip["pairs"])]
    text = t.fill("iperf", rows=table(rows),
                  median=f"{100 * median([p['ratio'] for p in ip['pairs']]):.1f}")
    if ip.get("skb_egress"):
        text += t.fill("iperf_skb", ns_per_run=f"{ip['skb_egress']['ns_per_run']:.0f}",
                       runs=f"{ip['skb_egress']['run_cnt']:,}",
                       seconds=min(args.iperf_seconds, 2))
    return text


def _reload_row(k, trigger, rs):
    vs = [r["verdict_ms"] for r in rs if r["verdict_ms"] is not None]
    return [f"{k:,}", trigger, fmt(median(vs)), fmt(max(vs) if vs else None),
            fmt(median([r["event_ms"] for r in rs])), str(sum(r["wrong"] for r in rs)),
            f"{sum(r['probes'] for r in rs):,}", f"{100 * rs[0]['agent_idle_cpu_share']:.1f}%"]


def reload(t, data, args, summary):
    if not data.get("reload"):
        return ""
    groups = {}
    for r in data["reload"]:
        groups.setdefault((r["cidrs"], r["trigger"]), []).append(r)
    rows = [_reload_row(k, trigger, rs) for (k, trigger), rs in groups.items()]
    text = t.fill("reload", idle_seconds=args.idle_seconds, rows=table(rows))
    missing = sum(1 for r in data["reload"] if r["verdict_ms"] is None)
    if missing:
        text += t.fill("reload_missing", missing=missing, timeout=args.reload_timeout)
    return text


def events(t, data, args, summary):
    ev = data.get("events")
    if not ev:
        return ""
    text = t.fill("events", seconds=args.flood_seconds, row=row([
        f"{ev['generated']:,}", f"{ev['delivered']:,}", f"{ev['ringbuf_drops']:,}",
        f"{ev['lost_unaccounted']:,}", fmt(ev["events_per_s_wall"], ",.0f"),
        fmt(ev["events_per_cpu_s"], ",.0f")]))
    denied, allowed = ev.get("ns_per_denied_connect"), ev.get("ns_per_allowed_connect")
    if allowed and denied:
        text += t.fill("events_cost", denied_ns=f"{denied:,.0f}", allowed_ns=f"{allowed:,.0f}",
                       ratio=f"{denied / allowed:.2f}")
    return text


def _rss_kinds(r):
    """VmRSS MiB of the BPF maps, files and private memory."""
    k = r.get("rss_by_kind_kb") or {}
    return [fmt(k.get(x, 0) / 1024 if k else None, ".1f") for x in ("bpf_maps", "files", "anon")]


def _memory_rows(m):
    rows = [row([str(i + 1), f"{r['containers']:,}", f"{r['ready_ms']:.0f}",
                 f"{r['rss_kb'] / 1024:.1f}", *_rss_kinds(r), f"{r['hwm_kb'] / 1024:.1f}",
                 f"{100 * r['idle_cpu_share']:.1f}%",
                 fmt(r["lpm4_memlock"] / 1024 if r["lpm4_memlock"] else None)])
            for i, r in enumerate(m["runs"])]
    rows += [row(["1 container, 10 rules", "1", f"{r['ready_ms']:.0f}",
                  f"{r['rss_kb'] / 1024:.1f}", *_rss_kinds(r)], empty=3) for r in m["minimal"]]
    return "\n".join(rows)


def memory(t, data, args, summary):
    m = data.get("memory")
    if not m:
        return ""
    return t.fill("memory", containers=f"{m['containers']:,}", rules=f"{m['rules']:,}",
                  per_policy=f"{m['rules'] // 10:,}", idle_seconds=args.idle_seconds,
                  rows=_memory_rows(m))


def _scale_rows(sc):
    def mib(r, name, spec=".1f"):
        v = r["memlock"].get(name)
        return fmt(v / 2**20 if v is not None else None, spec)
    return table([[str(i + 1), f"{r['containers']:,}", f"{r['ready_ms']:.0f}",
                   f"{r['rss_kb'] / 1024:.0f}", f"{r['hwm_kb'] / 1024:.0f}",
                   *(mib(r, m) for m in ("pal_hosts4", "pal_lpm4", "pal_classes", "pal_cgroups",
                                         "pal_portsets", "pal_peers")),
                   f"{r['reload_shared_ms']:.0f}", f"{r['reload_small_ms']:.0f}"]
                  for i, r in enumerate(sc["runs"])])


def scale(t, data, args, summary):
    sc = data.get("scale")
    if not sc:
        return ""
    d = sc["decide"]
    return t.fill("scale", containers=f"{sc['containers']:,}", sets=f"{sc['sets']:,}",
                  cidrs=f"{sc['cidrs']:,}", per_set=f"{sc['containers'] // sc['sets']:,}",
                  rows=_scale_rows(sc), hosts4=f"{d['hosts4_entries']:,}",
                  classes=f"{d['classes_entries']:,}",
                  allow_warm=fmt(d["allow_warm_ns"]), allow_single=fmt(d["allow_single_ns"]),
                  deny_warm=fmt(d["deny_warm_ns"]), deny_single=fmt(d["deny_single_ns"]),
                  narrow_warm=fmt(d.get("narrow_warm_ns")), walk_warm=fmt(d.get("walk_warm_ns")),
                  narrow_single=fmt(d.get("narrow_single_ns")),
                  walk_single=fmt(d.get("walk_single_ns")))


def _percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100 * len(v)))] if v else None


def runtimes(t, data, args, summary):
    rt = data.get("runtimes")
    if not rt:
        return ""
    rows = [[name, f"{len(d['ms'])} of {d['starts']}", fmt(median(d["ms"]), ".2f"),
             fmt(_percentile(d["ms"], 99), ".2f"), fmt(max(d["ms"], default=None), ".2f"),
             fmt(median(d["start_ms"]))] for name, d in rt.items()]
    return t.fill("runtimes", rows=table(rows))


def oci_hook_section(t, raw):
    """The OCI hook's figures from a bench/oci_hook.py run's raw.json."""
    f, m = raw["figures"], raw["machine"]
    return t.fill("oci_hook", date=m["date"], podman=raw["podman"], starts=f["starts"],
                  machine=f"{m['cpu']}, {m['cpus']} CPUs, kernel {m['kernel']}",
                  without_median=fmt(f["without"]["median"], ".1f"),
                  without_p99=fmt(f["without"]["p99"], ".1f"),
                  with_median=fmt(f["with"]["median"], ".1f"), with_p99=fmt(f["with"]["p99"], ".1f"),
                  added_median=fmt(f["added_median_ms"], ".1f"),
                  added_p99=fmt(f["added_p99_ms"], ".1f"))


def oci_hook(t, data, args, summary):
    """The last bench/oci_hook.py run on this machine, if any (measured apart)."""
    runs = sorted((HERE / "results").glob("*-oci-hook/raw.json"))
    return oci_hook_section(t, json.loads(runs[-1].read_text())) if runs else ""


def method(t, data, args, summary):
    return t.fill("method", iptables=args.iptables)


SECTIONS = (header, machine, spec, rates, bpf_stats, decide, agent_start, iperf, reload, events,
            memory, scale, runtimes, oci_hook, method)


def write_report(data, args, results):
    """Writes results/report.md; returns its text and the summary (for the plot)."""
    summary = summarize(data)
    t = Template()
    text = "".join(section(t, data, args, summary) for section in SECTIONS)
    (results / "report.md").write_text(text)
    return text, summary


def publish(text, plot, write_docs):
    if not write_docs:
        return
    docs = HERE.parent / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "benchmarks.md").write_text(text)
    if plot:
        shutil.copy(plot, docs / "benchmarks.png")
    log("wrote docs/benchmarks.md and docs/benchmarks.png")
