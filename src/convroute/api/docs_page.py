"""``/docs``: the OpenAPI document rendered as one self-contained HTML page (no CDN: it works
on machines without internet)."""

from __future__ import annotations

import html
import json
from typing import Any


def render_docs(doc: dict[str, Any]) -> str:
    """An HTML reference of every operation, with its request schema."""
    schemas = doc["components"]["schemas"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>convroute API</title>",
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;"
        "padding:0 1em}code,pre{background:#f4f4f4;padding:.1em .3em}pre{padding:.6em;"
        "overflow:auto}.m{font-weight:bold;text-transform:uppercase;display:inline-block;"
        "width:4.5em}</style></head><body>",
        f"<h1>{html.escape(doc['info']['title'])} {html.escape(doc['info']['version'])}</h1>",
        f"<p>{html.escape(doc['info']['description'])} "
        "The machine-readable document is at <a href='/openapi.json'>/openapi.json</a>.</p>",
    ]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            parts.append(
                f"<h3 id='{html.escape(method + path)}'><span class='m'>{method}</span>"
                f"<code>{html.escape(path)}</code></h3><p>{html.escape(op['summary'])}</p>"
            )
            codes = ", ".join(sorted(op["responses"]))
            parts.append(f"<p>Responses: {html.escape(codes)}</p>")
            body = op.get("requestBody")
            if body:
                (content,) = body["content"].values()
                ref = content["schema"]["$ref"].rsplit("/", 1)[1]
                schema = json.dumps(schemas[ref], indent=2)
                parts.append(f"<p>Body <code>{ref}</code>:</p><pre>{html.escape(schema)}</pre>")
    parts.append("</body></html>")
    return "".join(parts)
