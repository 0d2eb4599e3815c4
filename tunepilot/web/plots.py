"""The run's plots, drawn with matplotlib (Agg, no display): SVG text for pages and report.html,
PNG files for `runs/<id>/plots/`.

    figs = figures(view)                # {"loss": Figure, ...}, only those with data
    svg(figs["loss"]); save_png(figs, folder / "plots")
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"figure.dpi": 100, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                     "svg.fonttype": "none", "svg.hashsalt": "tunepilot"})  # text stays text; same input, same bytes

TITLES = {"loss": "train and val loss per step", "throughput": "tokens/s and peak memory per step",
          "roles": "success per role, base vs tuned", "failures": "failure kinds (latest evaluation)",
          "latency": "seconds per item in the batched evaluation (the latency criterion uses the one-at-a-time probe)", "export": "export ladder: success per quant"}


def _loss(its: list[dict]):
    if not any(r.get("loss") is not None for i in its for r in i["metrics"]):
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    for i in its:
        train = [(r["step"], r["loss"]) for r in i["metrics"] if r.get("loss") is not None]
        val = [(r["step"], r["eval_loss"]) for r in i["metrics"] if r.get("eval_loss") is not None]
        if train:
            ax.plot(*zip(*train), label=f"iter {i['n']} train")
        if val:
            ax.plot(*zip(*val), "o--", label=f"iter {i['n']} val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7)
    return fig


def _throughput(its: list[dict]):
    rows = [(i["n"], r) for i in its for r in i["metrics"] if r.get("tokens_per_s")]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax2 = ax.twinx()
    for n in dict.fromkeys(n for n, _ in rows):
        pts = [r for m, r in rows if m == n]
        ax.plot([r["step"] for r in pts], [r["tokens_per_s"] for r in pts], label=f"iter {n} tokens/s")
        mem = [(r["step"], r["peak_rss_mb"] / 1024) for r in pts if r.get("peak_rss_mb")]
        if mem:
            ax2.plot(*zip(*mem), ":", label=f"iter {n} peak GB")
    ax.set_xlabel("step")
    ax.set_ylabel("tokens/s")
    ax2.set_ylabel("peak memory (GB)")
    ax.legend(loc="lower left", fontsize=7)
    ax2.legend(loc="lower right", fontsize=7)
    return fig


def _roles(metrics: dict, base: dict):
    tuned, before = metrics.get("per_role") or {}, base.get("per_role") or {}
    roles = sorted(set(tuned) | set(before))
    if not roles:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    x = range(len(roles))
    ax.bar([i - 0.2 for i in x], [100 * (before.get(r) or 0) for r in roles], 0.4, label="base")
    ax.bar([i + 0.2 for i in x], [100 * (tuned.get(r) or 0) for r in roles], 0.4, label="tuned")
    ax.set_xticks(list(x), roles)
    ax.set_ylabel("success (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    return fig


def _failures(report: dict | None):
    kinds = (report or {}).get("failures") or {}
    if not kinds:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.35 * len(kinds)))
    names = sorted(kinds, key=kinds.get)
    ax.barh(names, [kinds[k] for k in names])
    ax.set_xlabel("items")
    return fig


def _latency(report: dict | None):
    lat = [it["latency_s"] for it in (report or {}).get("items") or [] if it.get("latency_s") is not None]
    if not lat:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    ax.hist(lat, bins=min(20, max(3, len(lat))))
    ax.set_xlabel("seconds per answer")
    ax.set_ylabel("items")
    return fig


def _export(export: dict | None):
    ver = (export or {}).get("verification") or {}  # "hf" (the merged model) and each quant level
    rows = [("merged" if q == "hf" else q, v.get("success_rate")) for q, v in ver.items()
            if isinstance(v, dict) and v.get("success_rate") is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    ax.bar([q for q, _ in rows], [100 * s for _, s in rows])
    ax.set_ylabel("success (%)")
    ax.set_ylim(0, 100)
    return fig


def figures(view: dict) -> dict:
    figs = {"loss": _loss(view["iterations"]), "throughput": _throughput(view["iterations"]),
            "roles": _roles(view["metrics"], view["base"]), "failures": _failures(view["latest_eval"]),
            "latency": _latency(view["latest_eval"]), "export": _export(view["export"])}
    return {k: f for k, f in figs.items() if f is not None}


def svg(fig) -> str:
    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg")
    text = buf.getvalue()
    return text[text.index("<svg"):]  # inline: no XML prolog or doctype


def save_png(figs: dict, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, fig in figs.items():
        fig.tight_layout()
        fig.savefig(folder / f"{name}.png", format="png")
        out.append(folder / f"{name}.png")
    return out


def close(figs: dict) -> None:
    for fig in figs.values():
        plt.close(fig)
