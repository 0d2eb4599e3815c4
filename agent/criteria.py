"""Deploy / iterate / abort from measured numbers (seed 004's decision criteria).

    abort   if success < iterate_success or latency > iterate_latency_s
    deploy  if success >= min_success, latency < max_latency_s, memory <= max_memory_gb and no
            role fell more than max_role_drop below the base model
    iterate otherwise (success in the iterate band, latency in 12-15 s, memory over, a regression)

Every reason names its criterion and the numbers, so the journal shows why.
"""

from __future__ import annotations

import math

from tunepilot.agent.schemas import Criteria, Decision

# Seed 004's fallbacks when the base model cannot reach the bar; smaller first when latency or
# memory is what failed, larger when quality is.
ALTERNATIVES = {
    "quality": ["Qwen/Qwen2.5-Coder-0.5B-Instruct", "Qwen/Qwen2.5-Coder-1.5B-Instruct", "Qwen/Qwen2.5-7B-Instruct"],
    "speed": ["smollm2-135m-instruct (quantized Q4_K_M)", "HuggingFaceTB/SmolLM2-360M-Instruct",
              "Qwen/Qwen2.5-Coder-0.5B-Instruct"],
}


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson interval of a success rate p measured on n items."""
    if n <= 0:
        return 0.0, 1.0
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - half) / (1 + z * z / n)), min(1.0, (centre + half) / (1 + z * z / n))


def decide(metrics: dict, criteria: Criteria, base: dict | None = None) -> Decision:
    """metrics: success_rate, latency_avg_s, memory_gb, per_role (role -> success); base: the same
    for the untuned model (per_role used for the regression check)."""
    s, lat, mem = metrics["success_rate"], metrics["latency_avg_s"], metrics.get("memory_gb")
    c = criteria
    abort, iterate, ok = [], [], []
    failing: set[str] = set()

    if s < c.min_success:
        failing.add("success")
    if lat >= c.max_latency_s:
        failing.add("latency")
    if mem is not None and mem > c.max_memory_gb:
        failing.add("memory")
    n = metrics.get("items")  # with 30 items one item is 3.3 points: the reason says what the number is worth
    band = f" ({n} items, 95 % CI {wilson(s, n)[0]:.1%}–{wilson(s, n)[1]:.1%})" if n else ""
    if s < c.iterate_success:
        abort.append(f"success {s:.1%}{band} < abort bar {c.iterate_success:.1%}")
    elif s < c.min_success:
        iterate.append(f"success {s:.1%}{band} in iterate band [{c.iterate_success:.1%}, {c.min_success:.1%})")
    else:
        ok.append(f"success {s:.1%}{band} >= {c.min_success:.1%}")

    if lat > c.iterate_latency_s:
        abort.append(f"latency {lat:.2f} s > abort bar {c.iterate_latency_s:.2f} s")
    elif lat >= c.max_latency_s:
        iterate.append(f"latency {lat:.2f} s in iterate band [{c.max_latency_s:.2f}, {c.iterate_latency_s:.2f}] s")
    else:
        ok.append(f"latency {lat:.2f} s < {c.max_latency_s:.2f} s")

    if mem is not None:
        if mem > c.max_memory_gb:
            iterate.append(f"memory {mem:.2f} GB > {c.max_memory_gb:.2f} GB")
        else:
            ok.append(f"memory {mem:.2f} GB <= {c.max_memory_gb:.2f} GB")

    drops = []
    for role, b in ((base or {}).get("per_role") or {}).items():
        t = (metrics.get("per_role") or {}).get(role)
        if t is not None and b is not None and b - t > c.max_role_drop:
            drops.append(f"role {role} fell {b:.1%} -> {t:.1%} (more than {c.max_role_drop:.0%})")
    g0, g1 = (base or {}).get("general_probe"), metrics.get("general_probe")
    if g0 is not None and g1 is not None:
        if g0 - g1 > c.max_general_drop:
            drops.append(f"general probe fell {g0:.0%} -> {g1:.0%} (catastrophic forgetting, more than "
                         f"{c.max_general_drop:.0%})")
        else:
            ok.append(f"general probe {g0:.0%} -> {g1:.0%} (no forgetting)")
    for name, row in (metrics.get("suites") or {}).items():
        b, t, n, ci = row.get("base"), row.get("tuned"), row.get("items"), row.get("diff_ci95")
        if b is None or t is None:
            continue
        band = f"{n} items, 95 % CI of the difference {ci[0]:+.0%} … {ci[1]:+.0%}" if ci else f"{n} items"
        if b - t > c.max_suite_drop:
            drops.append(f"suite {name} fell {b:.1%} -> {t:.1%} (more than {c.max_suite_drop:.0%}; {band})")
        else:
            ok.append(f"suite {name} {b:.1%} -> {t:.1%} ({band})")
    iterate += drops
    if drops:
        failing.add("regression")
    if not drops and base:
        ok.append("no role regressed beyond the allowed drop")

    if abort:
        action, reasons = "abort", abort + iterate
        speed = any("latency" in r for r in abort)
        nxt = "try another base model: " + ", ".join(ALTERNATIVES["speed" if speed else "quality"])
    elif iterate:
        action, reasons, nxt = "iterate", iterate, None
    else:
        action, reasons, nxt = "deploy", ok, "awaiting a person's approval (`tunepilot approve RUN`)"
    return Decision(action=action, reasons=reasons, failing=sorted(failing), metrics=metrics, criteria=c, next_step=nxt)
