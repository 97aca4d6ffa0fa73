"""Front-end files: third-party ones from node_modules (installed from the npm registry by
`make`, pinned by package-lock.json), Tailor's own from engine/web/static. Only the files
listed here are served."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, abort, send_from_directory

from ..paths import ROOT

NODE_MODULES = ROOT / "node_modules"
OWN = Path(__file__).parent / "static"
VENDOR = {
    "htmx.min.js": NODE_MODULES / "htmx.org" / "dist",
    "Sortable.min.js": NODE_MODULES / "sortablejs",
    "echarts.min.js": NODE_MODULES / "echarts" / "dist",  # report and dashboard charts (static/charts.js)
}


def init_app(app: Flask) -> None:
    @app.get("/assets/<path:name>")
    def asset(name: str):
        folder = VENDOR.get(name)
        if folder is not None:
            if not (folder / name).is_file():
                abort(404)
            return send_from_directory(folder, name, max_age=86400)
        return send_from_directory(OWN, name, max_age=3600)

    @app.get("/favicon.ico")
    def favicon():
        """Browsers ask for it on every site whatever the pages link: answer, not a 404."""
        return send_from_directory(OWN, "favicon.svg", mimetype="image/svg+xml", max_age=86400)
