"""`tunepilot ui`: review runs and approve deployments in a browser (Starlette, served by uvicorn).

    tunepilot ui [--runs-dir D] [--port P]        # prints http://127.0.0.1:P/?token=...

Server-rendered pages, every asset inside the package (no CDN: it works offline). Access needs
the random token printed in the URL (as Jupyter does): the first request with `?token=` sets a
SameSite=Strict cookie; anything without it gets 403. Approve and Reject are POST forms carrying a
CSRF value derived from the token and the run, and a request from another origin is refused; they
call the same functions as the CLI (agent/approval.py) and write the same journal events. The
server binds 127.0.0.1; another `--host` is refused unless the user also sets `--token`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tunepilot import TunepilotError
from tunepilot.agent.journal import existing_run_dir, runs_root
from tunepilot.web import plots, report
from tunepilot.web.review import live, run_view, runs_table

COOKIE = "tunepilot_token"
COLUMNS = [("run_id", "run"), ("goal", "goal"), ("model", "model"), ("status", "status"), ("decision", "decision"),
           ("success", "success base → tuned"), ("latency", "latency"), ("iterations", "iterations"),
           ("elapsed_s", "elapsed")]
METRIC_ROWS = [("success_rate", "success", report.pct), ("latency_avg_s", "latency", report._secs),
               ("memory_gb", "memory (GB)", lambda v: "—" if v is None else f"{v:.2f}"),
               ("general_probe", "general probe", report.pct)]
LOCAL = ("127.0.0.1", "localhost", "::1")


def csrf_value(token: str, run_id: str) -> str:
    return hmac.new(token.encode(), f"csrf:{run_id}".encode(), hashlib.sha256).hexdigest()


def check_bind(host: str, token: str | None) -> str:
    """The token to use; another host than loopback only with a token the user chose."""
    if host not in LOCAL and not token:
        raise TunepilotError(f"--host {host}: binding beyond this machine needs --token TOKEN too (anyone who can "
                             "reach the port could approve deployments otherwise)")
    return token or secrets.token_urlsafe(24)


def make_app(runs_dir: Path | None, token: str) -> Starlette:
    root = runs_root(runs_dir)

    def authorised(request: Request) -> bool:
        given = request.query_params.get("token") or request.cookies.get(COOKIE) or ""
        return hmac.compare_digest(given.encode(), token.encode())

    def guard(handler):
        async def wrapped(request: Request) -> Response:
            if not authorised(request):
                return HTMLResponse("<h1>403</h1><p>Open the URL that <code>tunepilot ui</code> printed "
                                    "(it carries the access token).</p>", status_code=403)
            response = await handler(request)
            if request.query_params.get("token"):
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            return response
        return wrapped

    def folder_of(request: Request) -> Path:
        return existing_run_dir(request.path_params["run_id"], root)

    async def index(request: Request) -> Response:
        rows = runs_table(root)
        sort, desc = request.query_params.get("sort", "started"), request.query_params.get("desc", "1") == "1"
        rows.sort(key=lambda r: (r.get(sort) is None, r.get(sort) if r.get(sort) is not None else 0), reverse=desc)
        return HTMLResponse(report.render("runs.html", rows=rows, root=str(root), columns=COLUMNS, sort=sort,
                                          desc=desc, base="/"))

    async def run_page(request: Request, message: str | None = None, status: int = 200) -> Response:
        try:
            folder = folder_of(request)
        except TunepilotError as e:
            return HTMLResponse(f"<p>{e}</p>", status_code=404)
        html = report.run_page(folder, static=False, base="/", csrf=csrf_value(token, folder.name), message=message)
        return HTMLResponse(html, status_code=status)

    async def live_json(request: Request) -> Response:
        return JSONResponse(live(folder_of(request)))

    async def plots_html(request: Request) -> Response:
        return HTMLResponse(report.plots_fragment(folder_of(request)))

    async def compare(request: Request) -> Response:
        ids = request.query_params.getlist("ids")
        if len(ids) < 2:
            return RedirectResponse("/", status_code=303)
        views = [run_view(existing_run_dir(i, root)) for i in ids]
        fields = sorted({k for v in views for k in v["config"]})
        diff = [(f, [v["config"].get(f) for v in views]) for f in fields
                if len({json.dumps(v["config"].get(f), default=str) for v in views}) > 1]
        its = [dict(i, n=f"{v['run_id']}/{i['n']}") for v in views for i in v["iterations"]]
        fig = plots.figures({"iterations": its, "metrics": {}, "base": {}, "latest_eval": None, "export": None})
        try:
            loss = plots.svg(fig["loss"]) if "loss" in fig else "<p>no training metrics</p>"
        finally:
            plots.close(fig)
        return HTMLResponse(report.render("compare.html", views=views, diff=diff, metric_rows=METRIC_ROWS,
                                          loss_svg=loss, base="/"))

    async def decide(request: Request) -> Response:
        from tunepilot.agent import run as runs

        run_id = request.path_params["run_id"]
        origin = request.headers.get("origin") or request.headers.get("referer")
        if origin and urlsplit(origin).netloc != request.url.netloc:
            return HTMLResponse("<p>cross-site request refused</p>", status_code=403)
        form = await request.form()
        if not hmac.compare_digest(str(form.get("csrf", "")), csrf_value(token, run_id)):
            return HTMLResponse("<p>missing or wrong CSRF value; reload the run page</p>", status_code=403)
        who = str(form.get("who", "")).strip()
        if not who:
            return await run_page(request, "a reviewer name is required", 400)
        try:
            if request.url.path.endswith("/approve"):
                runs.approve(run_id, who, root, note=str(form.get("note", "")).strip() or None)
            else:
                why = str(form.get("why", "")).strip()
                if not why:
                    return await run_page(request, "a reason is required to reject", 400)
                runs.reject(run_id, why, who, root)
            report.write_report(existing_run_dir(run_id, root))
        except TunepilotError as e:
            return await run_page(request, str(e), 409)
        return RedirectResponse(f"/run/{run_id}", status_code=303)

    routes = [Route("/", guard(index)), Route("/compare", guard(compare)),
              Route("/run/{run_id}", guard(run_page)), Route("/run/{run_id}/live", guard(live_json)),
              Route("/run/{run_id}/plots", guard(plots_html)),
              Route("/run/{run_id}/approve", guard(decide), methods=["POST"]),
              Route("/run/{run_id}/reject", guard(decide), methods=["POST"])]
    return Starlette(routes=routes)


def serve(runs_dir: Path | None, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          announce=print) -> None:
    import uvicorn

    token = check_bind(host, token)
    announce(f"tunepilot ui: http://{'127.0.0.1' if host in LOCAL else host}:{port}/?token={token}")
    uvicorn.run(make_app(runs_dir, token), host=host, port=port, log_level="warning")
