"""Rendering: the run page (live in `tunepilot ui`, static in report.html) from one Jinja2 template set.

    write_report(folder)   # runs/<id>/report.html (self-contained: plots inlined as SVG) + runs/<id>/plots/*.png

report.html is the run page without the buttons and the polling script: one file that opens from
disk with no network, to attach to a review or a ticket. It is rewritten when a run finishes, when
it is approved or rejected from the CLI or the web app, and by `tunepilot report RUN`.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from tunepilot.agent.render import pct
from tunepilot.atomic import write_text
from tunepilot.redact import redact_text
from tunepilot.web import plots
from tunepilot.web.review import run_view

ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"]))


def _secs(v) -> str:
    return "—" if v is None else f"{v:.2f} s"


def _mins(v) -> str:
    return "—" if v is None else f"{v / 60:.1f} min"


def _gb(mb) -> str:
    return "—" if mb is None else f"{mb / 1024:.2f} GB"


ENV.globals.update(pct=pct, secs=_secs, mins=_mins, gb=_gb, titles=plots.TITLES)


def svgs(view: dict) -> dict[str, str]:
    figs = plots.figures(view)
    try:
        return {name: plots.svg(fig) for name, fig in figs.items()}
    finally:
        plots.close(figs)


def render(name: str, **ctx) -> str:
    return redact_text(ENV.get_template(name).render(**ctx))  # a page is a record too


def run_page(folder: Path, *, static: bool, base: str = "", csrf: str = "", message: str | None = None) -> str:
    view = run_view(folder)
    return render("run.html", v=view, live=view["live"], svgs=svgs(view), static=static, base=base, csrf=csrf,
                  message=message)


def plots_fragment(folder: Path) -> str:
    return render("plots.html", svgs=svgs(run_view(folder)))


def write_report(folder: Path) -> Path:
    """report.html and plots/*.png for a run; returns the report's path."""
    folder = Path(folder)
    view = run_view(folder)
    figs = plots.figures(view)
    try:
        plots.save_png(figs, folder / "plots")
        inline = {name: plots.svg(fig) for name, fig in figs.items()}
    finally:
        plots.close(figs)
    html = render("run.html", v=view, live=view["live"], svgs=inline, static=True, base="#", csrf="", message=None)
    write_text(folder / "report.html", html)
    return folder / "report.html"
