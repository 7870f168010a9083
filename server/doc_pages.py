"""The documents a visitor reads on the server itself, linked from every page's footer.

    GET /responsible-use     docs/responsible-use.md as a page: what the app infers and what it
                             cannot, the EU AI Act and the GDPR, which uses fit

The Markdown is rendered once, at start-up (markdown-it-py, CommonMark with tables, raw HTML
off). Links to other files of the repository (relative ones) would lead nowhere on the
server: their text stays, without the link.
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PAGES = {  # path -> (document, the page's title)
    "/responsible-use": (ROOT / "docs" / "responsible-use.md", "Responsible use"),
}


def render_markdown(text: str) -> str:
    """Markdown -> HTML (no raw HTML passes); relative links become their text."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(text)
    for token in tokens:
        if token.type != "inline" or not token.children:
            continue
        kept, dropping = [], []
        for child in token.children:
            if child.type == "link_open":
                href = str(child.attrs.get("href", ""))
                relative = not href.startswith(("http://", "https://", "mailto:", "#", "/"))
                dropping.append(relative)
                if relative:
                    continue
            elif child.type == "link_close":
                if dropping.pop():
                    continue
            kept.append(child)
        token.children = kept
    return md.renderer.render(tokens, md.options, {})


def add_routes(app: web.Application) -> None:
    for path, (document, title) in PAGES.items():
        try:
            body = Markup(render_markdown(document.read_text(encoding="utf-8")))
        except OSError as e:
            log.warning("%s is missing (%s): %s answers 404", document.name, e.strerror, path)
            continue
        app.router.add_get(path, _page(title, body))


def _page(title: str, body: Markup):
    async def handler(request: web.Request) -> web.Response:
        return aiohttp_jinja2.render_template("doc.html", request, {"title": title, "body": body})

    return handler
