"""The plot of the report (docs/benchmarks.png): time per operation ÷ no
filter against the rule count, per mechanism; top log scale, bottom zoomed."""

from common import log

STYLES = {"palisade": ("#1b7837", "o"), "iptables": ("#b2182b", "s"),
          "nftables": ("#2166ac", "^")}
TESTS = (("tcp", "TCP connect+close", 1.03), ("udp", "UDP sendto (unconnected)", 1.08))


def _points(data, summary, mech, test, zoom):
    pts = sorted((c["k"], summary.get((c["name"], test), {}).get("total"))
                 for c in data["configs"] if c["mech"] == mech)
    pts = [(k, r) for k, r in pts if r is not None]
    return [(k, r) for k, r in pts if r <= 1.6] if zoom else pts


def _draw(ax, data, summary, test, target, zoom):
    for mech, (color, marker) in STYLES.items():
        pts = _points(data, summary, mech, test, zoom)
        if not pts:
            continue
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color,
                label=mech, linewidth=2)
        k, r = pts[-1]
        ax.annotate(f"{r:.2f}×", (k, r), textcoords="offset points", xytext=(8, -3),
                    fontsize=8, color=color)
    ax.axhline(1.0, color="black", linewidth=1, label="no filter")
    ax.axhline(target, color="#1b7837", linewidth=1, linestyle="--",
               label=f"target ({target:.2f}×)")


def _axes(ax, data, title, zoom, ticker):
    ax.set_xscale("log")
    if zoom:
        ax.set_ylim(0.95, 1.6)
        ax.set_title(title + " — zoom, linear")
    else:
        ax.set_yscale("log")
        ax.set_yticks([0.8, 1, 1.5, 2, 3, 5, 10, 20, 50])
        ax.set_title(title)
    ax.get_yaxis().set_major_formatter(ticker.FormatStrFormatter("%g×"))
    ax.set_xlim(right=max(c["k"] for c in data["configs"]) * 3)
    ax.set_xlabel("CIDR rules")
    ax.set_ylabel("time per operation ÷ no filter")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")


def write_plot(data, summary, results):
    """results/plot.png; None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        log("matplotlib missing (apt-get install python3-matplotlib): no plot")
        return None
    fig, grid = plt.subplots(2, 2, figsize=(12, 8.4), dpi=100)
    # Top: every mechanism on a log scale. Bottom: the same, zoomed on 1-1.6x
    # (linear), where palisade and nftables are told apart.
    for row, zoom in ((0, False), (1, True)):
        for ax, (test, title, target) in zip(grid[row], TESTS):
            _draw(ax, data, summary, test, target, zoom)
            _axes(ax, data, title, zoom, matplotlib.ticker)
    info = data["machine"]
    fig.suptitle(f"palisade vs iptables vs nftables — {info['cpu']}, {info['cpus']} CPUs, "
                 f"Linux {info['kernel']}, {info['date']}", fontsize=9)
    fig.tight_layout()
    path = results / "plot.png"
    fig.savefig(path)
    return path
