"""journal.md: every event of a run as a numbered entry a person reads before approving.

Text that came from people or models (the goal, rationales, tool outputs, an LLM's words) is
escaped: it renders as the text it is, never as headings, emphasis, links or HTML, so nothing in
it can forge an entry such as a decision or an approval.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


def escape(text) -> str:
    """Markdown-inert text on one line: special characters backslash-escaped, `<`/`>` as entities, line
    breaks shown as ' / ' (a rationale can never start a new heading or entry)."""
    s = str(text).replace("&", "&amp;")
    s = _MD_SPECIAL.sub(lambda m: "&lt;" if m.group(1) == "<" else "&gt;" if m.group(1) == ">" else "\\" + m.group(1), s)
    s = re.sub(r"^(\s*)([-+=]|\d+\.)", r"\1\\\2", s, flags=re.M)  # a leading list marker or setext underline
    return " / ".join(part.strip() for part in s.splitlines() if part.strip()) if "\n" in s or "\r" in s else s


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{escape(k)}={fmt(x)}" for k, x in v.items() if not isinstance(x, (dict, list)))
    if isinstance(v, list):
        return "; ".join(fmt(x) for x in v)
    return escape(v)


def pct(v) -> str:
    """A 0-1 rate as a percentage with one decimal, "—" when missing (journal, run page, report)."""
    return "—" if v is None else f"{100 * v:.1f} %"


def journal_markdown(folder: Path, events: list[dict]) -> str:
    """Every event as a numbered entry; decisions and their reasons stand out."""
    request = {}
    try:
        request = json.loads((folder / "request.json").read_text())
    except (OSError, ValueError):
        pass
    lines = [f"# Run {escape(folder.name)}", ""]
    if request:
        tc = request.get("training_config", {})
        lines += [f"**Goal:** {escape(request.get('goal', ''))}", "",
                  f"Base model `{escape(request.get('base_model'))}`; method {escape(tc.get('method'))}; "
                  f"criteria {fmt(request.get('criteria', {}))}; budget {fmt(request.get('budget', {}))}.", ""]
    for e in events:
        head = f"### {e['seq']}. {escape(e['time'])} · {escape(e['actor'])} · {escape(e['kind'])}"
        if e.get("tool"):
            head += f" · {escape(e['tool'])}"
        lines.append(head)
        if e.get("decision"):
            lines.append(f"**Decision: {escape(e['decision'].upper())}**")
        if e.get("rationale"):
            lines.append(f"> {escape(e['rationale'])}")
        for key in ("input", "output"):
            v = e.get(key)
            if v in (None, {}, []):
                continue
            if isinstance(v, dict):
                lines.append(f"- {key}:")
                lines += [f"  - {escape(k)}: {fmt(x)}" for k, x in v.items() if k != "suites"]
                lines += _suites(v.get("suites"))
            elif isinstance(v, list):
                lines.append(f"- {key}:")
                lines += [f"  - {fmt(x)}" for x in v]
            else:
                lines.append(f"- {key}: {fmt(v)}")
        lines.append("")
    return "\n".join(lines)


def _suites(suites) -> list[str]:
    """A suites dict (name -> items, base, tuned, diff, diff_ci95, mcnemar_p) as one line per suite."""
    if not isinstance(suites, dict) or not suites:
        return []
    out = ["  - suites (base → tuned, 95 % CI of the difference):"]
    for name, r in suites.items():
        ci = r.get("diff_ci95") if isinstance(r, dict) else None
        band = f", CI {100 * ci[0]:+.1f} … {100 * ci[1]:+.1f} points" if ci else ""
        out.append(f"    - {escape(name)}: {r.get('items')} items, {pct(r.get('base'))} → {pct(r.get('tuned'))}{band}"
                   if isinstance(r, dict) else f"    - {escape(name)}: {fmt(r)}")
    return out
