"""From the raw blocks of a run to the figures of the main table: per
(configuration, test) the rates and latencies (medians over rounds), the
pooled slice-pair ratios against the configuration's own baseline (median
and quartiles), and `total`, the ratio against no filter at all (for
palisade: times the node-wide cost of a loaded agent, palisade-host)."""

import statistics

from common import median


def quartiles(values):
    v = sorted(values)
    if not v:
        return None, None, None
    return (v[len(v) // 4], statistics.median(v), v[(3 * len(v)) // 4])


def _series():
    return {"ratios": [], "rate": [], "p50": [], "p99": [], "base_rate": []}


def _add_side(series, side):
    series["rate"].append(side["rate"])
    series["p50"].append(side["latency"].get("p50_ns"))
    series["p99"].append(side["latency"].get("p99_ns"))


def alternating_series(blocks):
    """(config, test) -> series of the alternating blocks; the B sides of
    iptables and nftables (no filter at all) also make the "none" rows."""
    alt = {}
    for blk in blocks:
        if blk.get("kind") != "alternating":
            continue
        s = alt.setdefault((blk["config"], blk["test"]), _series())
        s["ratios"] += blk["pair_ratios"]
        _add_side(s, blk["a"])
        s["base_rate"].append(blk["b"]["rate"])
        if blk["mech"] in ("iptables", "nftables"):  # their baseline is no filter at all
            _add_side(alt.setdefault(("none", blk["test"]), _series()), blk["b"])
    return alt


def pair_series(pairs):
    """(config, test) -> series of the block pairs (palisade-host)."""
    out = {}
    for p in pairs:
        s = out.setdefault((p["config"], p["test"]), _series())
        s["ratios"].append(p["ratio"])
        _add_side(s, {"rate": p["test_rate"], "latency": p["test_lat"]})
    return out


def figures(s, ratio=None):
    q1, med, q3 = quartiles(s["ratios"])
    return {"rate": median(s["rate"]), "p50_us": (median(s["p50"]) or 0) / 1000,
            "p99_us": (median(s["p99"]) or 0) / 1000, "ratio": med if ratio is None else ratio,
            "q1": q1, "q3": q3, "pairs": len(s["ratios"])}


def summarize(data):
    out = {}
    for (config, test), s in alternating_series(data["blocks_all"]).items():
        out[(config, test)] = figures(s, 1.0 if config == "none" else None)
        out[(config, test)]["base_rate"] = median(s["base_rate"])
    for key, s in pair_series(data.get("pairs", [])).items():
        out[key] = figures(s)
    for (config, test), s in out.items():
        s["total"] = _total(config, s["ratio"], out.get(("palisade-host", test), {}).get("ratio"))
    return out


def _total(config, ratio, host):
    if config.startswith("palisade-") and config != "palisade-host":
        # A loaded agent cannot make a process faster: a node-wide ratio below 1
        # is noise, and counting it would flatter palisade.
        return ratio * max(1.0, host) if host and ratio else ratio
    return ratio
