#!/usr/bin/python3
"""Turn make bench's results into a summary and plots (runs on the host).

usage: report.py DIR

Reads DIR/results.json (bench/suite.py in the softodp guest) and, if
present, DIR/upstream.json (the same suite on the stock upstream kernel,
make bench-upstream), and writes DIR/summary.md and DIR/*.png. Every number
is the median of the repetitions, with min-max; every ratio is taken so that
above 1 means ODP (or softodp) is faster."""
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40


def size_name(n):
    for unit, div in (("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= div and n % div == 0:
            return f"{n // div} {unit}"
    return f"{n} B"


def load(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


class Results:
    """Lookup of one suite run's records by (name, mode, params)."""

    def __init__(self, doc):
        self.doc = doc
        self.recs = doc["results"] if doc else []

    def find(self, name, mode, **params):
        for r in self.recs:
            if r["name"] == name and r["mode"] == mode and all(
                    r["params"].get(k) == v for k, v in params.items()):
                return r
        return None

    def group(self, group):
        return [r for r in self.recs if r["group"] == group]


def med(rec):
    return statistics.median(rec["samples"]) if rec and rec["samples"] else None


def one_line(text, n=80):
    """An error message fit for a table cell: one line, at most n characters."""
    return " ".join(str(text).split())[:n]


def cell(rec, fmt="{:.1f}"):
    """'median (min-max)', or the failure, or '-'."""
    if rec is None:
        return "-"
    if not rec["samples"]:
        return one_line(rec["error"]) if rec["error"] else "-"
    s = rec["samples"]
    m = fmt.format(statistics.median(s))
    if len(s) > 1:
        return f"{m} ({fmt.format(min(s))}-{fmt.format(max(s))})"
    return m


def perf_ratio(ours, base, better):
    """ours relative to base, > 1 meaning ours is better."""
    a, b = med(ours), med(base)
    if a is None or b is None or a == 0 or b == 0:
        return None
    return a / b if better == "higher" else b / a


def rtxt(x):
    return "-" if x is None else f"{x:.3f}"


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


class Report:
    def __init__(self, d):
        self.dir = d
        self.res = Results(load(os.path.join(d, "results.json")))
        up = load(os.path.join(d, "upstream.json"))
        self.up = Results(up) if up else None
        self.md = []
        self.goals = []
        self.plots = []
        # ours/upstream ratios of every record both runs have, for the goal
        self.vs_up = []

    def out(self, text=""):
        self.md.append(text)

    def save_plot(self, fig, name, announce=True):
        """Write fig as build/bench/<name>, list it, and (announce) say so."""
        fig.tight_layout()
        fig.savefig(os.path.join(self.dir, name), dpi=90)
        plt.close(fig)
        self.plots.append(name)
        if announce:
            self.out(f"Plot: `{name}`.\n")

    def upstream_cell(self, name, mode, params):
        if not self.up:
            return None, None
        u = self.up.find(name, mode, **params)
        o = self.res.find(name, mode, **params)
        if u is None:
            return None, None
        r = perf_ratio(o, u, u["better"])
        odp_mode = mode.startswith("odp") or mode in ("implicit", "no_prefetch",
                                                      "prefetch_write")
        if r is not None and odp_mode:
            self.vs_up.append((r, f"{name} {mode} {params}"))
        return u, r

    def kernel_section(self):
        self.out("## Kernels\n")
        rows = []
        for label, r in (("softodp", self.res), ("upstream", self.up)):
            if not r or not r.doc:
                continue
            k = r.doc["kernel"]
            conf = k.get("config") or {}
            rows.append([label, k["uname_r"], k["flavour"],
                         "on" if k["lockdep"] else "off",
                         ", ".join(f"{a}={b}" for a, b in conf.items()) or "no config.gz",
                         f"{r.doc['repeat']}", f"{r.doc['seconds']:.0f} s", r.doc["date"]])
        self.out(table(["run", "uname -r", "flavour", "lockdep", "config", "repeat",
                        "guest time", "date"], rows))

    def pinned_odp(self, group, title, unit, plot):
        recs = self.res.group(group)
        tools = sorted({r["name"] for r in recs if r["mode"] == "pinned"},
                       key=lambda n: ["write", "read", "send"].index(n.split("_")[1]))
        if not tools:
            return
        self.out(f"## {title}\n")
        head = ["tool", "QPs", "size", f"pinned {unit}", f"ODP {unit}", "ODP/pinned"]
        if self.up:
            head += [f"upstream ODP {unit}", "softodp/upstream"]
        rows, ratios = [], []
        fig, axes = plt.subplots(1, len(tools), figsize=(5 * len(tools), 4))
        for ax, tool in zip(axes if len(tools) > 1 else [axes], tools):
            keys = sorted({(r["params"].get("qps", 1), r["params"]["size"])
                           for r in recs if r["name"] == tool})
            for qps in sorted({q for q, _ in keys}):
                sizes = [s for q, s in keys if q == qps]
                for mode, style in (("pinned", "-o"), ("odp", "-s")):
                    ys = [med(self.res.find(tool, mode, size=s, **self.qp(group, qps)))
                          for s in sizes]
                    ax.plot(sizes, [y if y is not None else float("nan") for y in ys], style,
                            label=f"{mode} q{qps}")
                if self.up:
                    ys = [med(self.up.find(tool, "odp", size=s, **self.qp(group, qps)))
                          for s in sizes]
                    ax.plot(sizes, [y if y is not None else float("nan") for y in ys], ":^",
                            label=f"upstream odp q{qps}")
            ax.set_xscale("log", base=2)
            ax.set_title(tool)
            ax.set_xlabel("message size, bytes")
            ax.set_ylabel(unit)
            ax.legend(fontsize=7)
            for qps, size in keys:
                p = self.res.find(tool, "pinned", size=size, **self.qp(group, qps))
                o = self.res.find(tool, "odp", size=size, **self.qp(group, qps))
                better = (p or o)["better"]
                r = perf_ratio(o, p, better)
                if r is not None:
                    ratios.append((r, f"{tool} q{qps} {size_name(size)}"))
                elif o and o["error"]:
                    ratios.append((0.0, f"{tool} q{qps} {size_name(size)} ({one_line(o['error'], 60)})"))
                row = [tool, qps, size_name(size), cell(p), cell(o), rtxt(r)]
                if self.up:
                    u, ur = self.upstream_cell(tool, "odp", dict(size=size, **self.qp(group, qps)))
                    row += [cell(u), rtxt(ur)]
                rows.append(row)
        self.save_plot(fig, plot, announce=False)
        self.out(table(head, rows))
        self.out(f"Plot: `{plot}`. For latency the ratio is pinned/ODP latency "
                 "(above 1: ODP faster).\n")
        return ratios

    @staticmethod
    def qp(group, qps):
        return {"qps": qps} if group == "bw" else {}

    def implicit_section(self):
        recs = self.res.group("bw")
        sizes = sorted({r["params"]["size"] for r in recs if r["name"] == "odp_rdma_write"})
        if not sizes:
            return
        self.out("## Implicit ODP (odp_rdma bw: RDMA WRITE into an ODP MR)\n")
        head = ["size", "explicit ODP MB/s", "implicit ODP MB/s", "implicit/explicit"]
        if self.up:
            head += ["upstream explicit", "upstream implicit"]
        rows = []
        for s in sizes:
            e = self.res.find("odp_rdma_write", "odp", size=s)
            i = self.res.find("odp_rdma_write", "implicit", size=s)
            row = [size_name(s), cell(e), cell(i), rtxt(perf_ratio(i, e, "higher"))]
            if self.up:
                ue, _ = self.upstream_cell("odp_rdma_write", "odp", {"size": s})
                ui, _ = self.upstream_cell("odp_rdma_write", "implicit", {"size": s})
                row += [cell(ue), cell(ui)]
            rows.append(row)
        self.out(table(head, rows))

    def touch_section(self):
        if not self.res.group("touch"):
            return None
        self.out("## First touch per page: ODP fault vs the CPU's own first touch\n")
        self.out("64 MiB fresh mapping. CPU: one byte written per page. ODP: 1 MiB RDMA "
                 "WRITEs (or READs landing in it) over a fresh ODP MR; *first* is that pass, "
                 "*warm* a second pass over the mapped MR, *fault* = first - warm (the cost "
                 "of faulting the page in, without the data copy), taken within each repetition; "
                 "the table gives the median and range of those differences. A WRITE that meets an "
                 "absent page waits for its fault up to `odp_write_hold_us`; *hold 0* is "
                 "the same WRITE pass with the hold off (an RNR NAK at once), alternating "
                 "with it in the same run.\n")
        head = ["pages", "THP got (KiB)", "CPU ns/page", "WRITE first", "WRITE warm",
                "WRITE fault", "fault/CPU", "READ first", "READ warm", "READ fault",
                "fault/CPU", "raw first/CPU (WRITE)", "WRITE fault, hold 0", "fault/CPU"]
        rows, goal = [], []
        labels, cpu_v, wf_v, rf_v, w0_v = [], [], [], [], []
        for kind in ("4k", "thp"):
            name = f"first touch {kind}"
            c = self.res.find(name, "cpu")
            if c is None:
                continue
            cm = med(c)
            # first - warm of the same repetition (one bench_mm process),
            # then the median: drift between repetitions cancels out
            fault, fcell = {}, {}
            for op in ("write", "read", "write_rnr"):
                first, warm = op.split("_")[0] + "_first", op.split("_")[0] + "_warm"
                sfx = "_rnr" if op.endswith("_rnr") else ""
                f, w = (self.res.find(name, f"odp_{first}{sfx}"),
                        self.res.find(name, f"odp_{warm}{sfx}"))
                diffs = ([a - b for a, b in zip(f["samples"], w["samples"])]
                         if f and w and f["samples"] and w["samples"] else [])
                fault[op] = statistics.median(diffs) if diffs else None
                fcell[op] = cell({"samples": diffs, "error": None}) if diffs else "-"
            wr = fault["write"] / cm if cm and fault["write"] is not None else None
            rr = fault["read"] / cm if cm and fault["read"] is not None else None
            w0 = fault["write_rnr"]
            raw = med(self.res.find(name, "odp_write_first"))
            rows.append([kind, c["params"].get("thp_kb"), cell(c),
                         cell(self.res.find(name, "odp_write_first")),
                         cell(self.res.find(name, "odp_write_warm")),
                         fcell["write"],
                         rtxt(wr), cell(self.res.find(name, "odp_read_first")),
                         cell(self.res.find(name, "odp_read_warm")),
                         fcell["read"],
                         rtxt(rr), rtxt(raw / cm if raw and cm else None),
                         fcell["write_rnr"],
                         rtxt(w0 / cm if cm and w0 is not None else None)])
            goal.append((kind, wr, rr, c["error"]))
            labels.append(kind)
            cpu_v.append(cm or 0)
            wf_v.append(fault["write"] or 0)
            rf_v.append(fault["read"] or 0)
            w0_v.append(w0 or 0)
        self.out(table(head, rows))
        if labels:
            fig, ax = plt.subplots(figsize=(7, 4))
            x = range(len(labels))
            ax.bar([i - 0.3 for i in x], cpu_v, 0.2, label="CPU first touch")
            ax.bar([i - 0.1 for i in x], wf_v, 0.2, label="ODP WRITE fault")
            ax.bar([i + 0.1 for i in x], w0_v, 0.2, label="ODP WRITE fault, hold 0")
            ax.bar([i + 0.3 for i in x], rf_v, 0.2, label="ODP READ fault")
            ax.set_xticks(list(x), labels)
            ax.set_yscale("log")
            ax.set_ylabel("ns per page")
            ax.legend()
            self.save_plot(fig, "touch.png")
        return goal

    def reg_section(self):
        recs = [r for r in self.res.group("reg") if r["name"] == "register"]
        if not recs:
            return None
        self.out("## Registration time vs size (ODP over a PROT_NONE MAP_NORESERVE "
                 "reservation; pinned over touched-by-pinning RAM, sizes that fit)\n")
        sizes = sorted({r["params"]["size"] for r in recs})
        head = ["size", "pinned reg us", "ODP reg us", "ODP dereg us", "pinned/ODP"]
        if self.up:
            head += ["upstream ODP reg us", "softodp/upstream"]
        rows = []
        for s in sizes:
            p = self.res.find("register", "pinned", size=s)
            o = self.res.find("register", "odp", size=s)
            row = [size_name(s), cell(p, "{:.0f}"), cell(o, "{:.1f}"),
                   cell(self.res.find("deregister", "odp", size=s), "{:.1f}"),
                   rtxt(perf_ratio(o, p, "lower"))]
            if self.up:
                u, ur = self.upstream_cell("register", "odp", {"size": s})
                row += [cell(u, "{:.1f}"), rtxt(ur)]
            rows.append(row)
        self.out(table(head, rows))
        fig, ax = plt.subplots(figsize=(6, 4))
        series = [("pinned", self.res, "-o"), ("odp", self.res, "-s")]
        if self.up:
            series.append(("odp", self.up, ":^"))
        for mode, res, style in series:
            pts = [(s, med(res.find("register", mode, size=s))) for s in sizes]
            pts = [(s, v) for s, v in pts if v is not None]
            if pts:
                ax.plot(*zip(*pts), style,
                        label=("upstream " if res is self.up else "") + mode)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("MR size, bytes")
        ax.set_ylabel("ibv_reg_mr, us")
        ax.legend()
        self.save_plot(fig, "reg.png")
        return (self.res.find("register", "odp", size=4 * KiB),
                self.res.find("register", "odp", size=64 * TiB))

    def simple_section(self, group, title, note=""):
        recs = self.res.group(group)
        if not recs:
            return
        self.out(f"## {title}\n")
        if note:
            self.out(note + "\n")
        names = list(dict.fromkeys(r["name"] for r in recs))
        modes = list(dict.fromkeys(r["mode"] for r in recs))
        head = ["", *modes]
        if self.up:
            head += [f"upstream {m}" for m in modes]
        rows = []
        for n in names:
            row = [f"{n} ({recs[0]['unit'] if len({r['unit'] for r in recs}) == 1 else next(r['unit'] for r in recs if r['name'] == n)})"]
            row += [cell(self.res.find(n, m), "{:.3f}" if recs[0]["unit"] == "s" else "{:.1f}")
                    for m in modes]
            if self.up:
                for m in modes:
                    u, _ = self.upstream_cell(n, m, {})
                    row.append(cell(u, "{:.3f}" if recs[0]["unit"] == "s" else "{:.1f}"))
            rows.append(row)
        self.out(table(head, rows))
        fig, ax = plt.subplots(figsize=(6, 4))
        width = 0.8 / max(1, len(modes))
        for j, m in enumerate(modes):
            ax.bar([i + j * width for i in range(len(names))],
                   [med(self.res.find(n, m)) or 0 for n in names], width, label=m)
        ax.set_xticks([i + width * (len(modes) - 1) / 2 for i in range(len(names))], names,
                      fontsize=8)
        ax.legend(fontsize=8)
        ax.set_title(title, fontsize=9)
        self.save_plot(fig, f"{group}.png")

    def rnr_section(self):
        recs = self.res.group("rnr")
        if not recs:
            return
        self.out("## ODP traffic under mm churn (odp_rnr storm)\n")
        base = med(self.res.find("odp_rnr storm", "quiet"))
        rows = []
        for r in recs:
            p = r["params"]
            rows.append([r["mode"], cell(r), rtxt(med(r) / base if base and med(r) else None),
                         p.get("deferred"), p.get("rnr_naks"), p.get("p50_us_below"),
                         p.get("p99_us_below"), p.get("max_us")])
        self.out(table(["run", "ops/s", "vs quiet", "deferred faults", "RNR NAKs",
                        "fault p50 us <", "fault p99 us <", "fault max us"], rows))

    def goals_section(self, bw, lat, touch, reg):
        g = []

        def add(name, met, detail):
            g.append([name, "met" if met else ("missed" if met is not None else "not measured"),
                      detail])

        for label, ratios in (("bandwidth", bw), ("latency", lat)):
            if ratios:
                worst = min(ratios)
                miss = [x for x in ratios if x[0] < 0.98]
                add(f"ODP/pinned >= 0.98, {label}, every size and QP count",
                    not miss, f"worst {worst[0]:.3f} ({worst[1]}); {len(miss)} of "
                    f"{len(ratios)} below 0.98" + (
                        f", by up to {0.98 - worst[0]:.3f}" if miss else ""))
            else:
                add(f"ODP/pinned >= 0.98, {label}", None, "-")
        if touch:
            for kind, wr, rr, err in touch:
                worst = max(x for x in (wr, rr) if x is not None) if (wr or rr) else None
                add(f"ODP first touch <= 1.5x CPU first touch ({kind})",
                    None if worst is None else worst <= 1.5,
                    err or f"fault/CPU: WRITE {rtxt(wr)}, READ {rtxt(rr)}"
                    + (f"; over by {worst - 1.5:.2f}x" if worst and worst > 1.5 else ""))
        else:
            add("ODP first touch <= 1.5x CPU first touch", None, "-")
        if reg:
            small, big = reg
            if med(small) and med(big):
                r = med(big) / med(small)
                add("64 TiB registration <= 2x 4 KiB registration", r <= 2,
                    f"{med(big):.1f} us vs {med(small):.1f} us = {r:.2f}x"
                    + (f"; over by {r - 2:.2f}x" if r > 2 else ""))
            else:
                add("64 TiB registration <= 2x 4 KiB registration", False,
                    (big or {}).get("error") or "not measured")
        un = self.res.find("munmap", "odp_mr")
        un0 = self.res.find("munmap", "no_mr")
        if med(un) and med(un0):
            r = med(un) / med(un0)
            ex, ex0 = med(self.res.find("exit", "odp_mr")), med(self.res.find("exit", "no_mr"))
            add("munmap with ODP MR <= 1.2x without (16 GiB untouched)", r <= 1.2,
                f"{med(un):.1f} us vs {med(un0):.1f} us = {r:.2f}x"
                + (f"; over by {r - 1.2:.2f}x" if r > 1.2 else "")
                + (f" (process exit: {ex / ex0:.2f}x)" if ex and ex0 else ""))
        else:
            add("munmap with ODP MR <= 1.2x without", None, (un or {}).get("error") or "-")
        if self.vs_up:
            worst = min(self.vs_up)
            miss = [x for x in self.vs_up if x[0] < 1.0]
            add("softodp ODP >= 1.0x upstream rxe ODP, every workload both ran", not miss,
                f"worst {worst[0]:.3f} ({worst[1]}); {len(miss)} of {len(self.vs_up)} below"
                " 1.0" + (f", by up to {1 - worst[0]:.3f}" if miss else ""))
        else:
            add("softodp ODP >= 1.0x upstream rxe ODP", None,
                "no upstream.json (run make bench-upstream)" if not self.up else
                "no workload ran on both")
        return g

    def write(self):
        self.kernel_section()
        bw = self.pinned_odp("bw", "Bandwidth: perftest, ODP vs pinned", "MB/s", "bw.png")
        lat = self.pinned_odp("lat", "Latency: perftest t_typical, ODP vs pinned", "usec",
                              "lat.png")
        self.implicit_section()
        touch = self.touch_section()
        reg = self.reg_section()
        self.simple_section("unmap", "munmap and process exit of a 16 GiB untouched "
                            "reservation, with and without an ODP MR (us)")
        self.simple_section("prefetch", "Prefetch: 64 MiB first RDMA WRITE pass, with and "
                            "without a synchronous ibv_advise_mr(PREFETCH_WRITE)")
        self.simple_section("dontneed", "Invalidation: MADV_DONTNEED of 2 MiB (us)",
                            "no MR; an idle ODP MR over the buffer (pages mirrored); the same "
                            "MR while a second thread RDMA WRITEs into it.")
        self.rnr_section()
        self.simple_section("peer", "dpmem: P2P vs migration vs system RAM (64 MiB ODP MR, "
                            "1 MiB messages, MB/s)")
        goals = self.goals_section(bw, lat, touch, reg)
        head = ["# softodp benchmarks\n",
                "Every number: median of the repetitions (min-max in parentheses). Ratios: "
                "above 1 means ODP (or softodp) is better.\n",
                "## Goals\n", table(["goal", "status", "detail"], goals)]
        text = "\n".join(head + self.md) + "\nPlots: " + ", ".join(
            f"`{p}`" for p in self.plots) + "\n"
        with open(os.path.join(self.dir, "summary.md"), "w") as f:
            f.write(text)
        return text


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "build/bench"
    if not os.path.exists(os.path.join(d, "results.json")):
        sys.exit(f"{d}/results.json missing (run make bench)")
    Report(d).write()
    print(f"wrote {d}/summary.md")


if __name__ == "__main__":
    main()
