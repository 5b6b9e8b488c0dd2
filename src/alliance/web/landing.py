"""`/`: what is running and where to go. The role dashboards come with the web issue.

The page shows no network data: everything behind it needs an API key.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Alliance</title>
<style>
 body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;
      padding:0 1rem;color:#1d2330}
 h1{font-size:1.6rem;margin-bottom:.2rem}
 code{background:#f1f3f7;padding:.1rem .3rem;border-radius:4px}
 li{margin:.35rem 0} .muted{color:#5b6475}
</style></head><body>
<h1>Alliance is running</h1>
<p class="muted">An open-source partner-marketing network: programs, tracking links,
attribution, commissions and reports.</p>
<ul>
 <li><a href="/api/v1/docs">API reference</a> (try it with an API key:
     <code>alliance create-operator</code>, or the demo keys in
     <code>var/demo-credentials.txt</code>)</li>
 <li><a href="/api/v1/openapi.json">OpenAPI document</a></li>
 <li><a href="/healthz">Health</a></li>
 <li>Tracking links: <code>/c/{code}</code> &middot; postbacks: <code>/postback</code>
     &middot; site tag: <a href="/tag.js"><code>/tag.js</code></a></li>
 <li>Reports from the shell: <code>alliance report orders --group-by partner</code></li>
</ul>
<p class="muted">Dashboards for operators, advertisers and partners are not built yet;
everything they will show is available through the API and the CLI today.</p>
</body></html>"""


@router.get("/", response_class=HTMLResponse)
def landing() -> HTMLResponse:
    return HTMLResponse(_PAGE, headers={"Cache-Control": "no-cache"})
