"""The staff console's static files (works offline: no CDN, no library). The page holds no data and
no credentials of its own: staff log in with their own client at the registry and every action is a
call to the services' public APIs, with the same permissions and audit as any system client."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(tags=["console"])
STATIC = Path(__file__).with_name("static")
# The page asks the browser to call only these services and to run only its own script.
HEADERS = {"Cache-Control": "no-cache", "Content-Security-Policy": (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' http: https:; "
    "img-src 'self' data:; frame-ancestors 'none'"), "X-Content-Type-Options": "nosniff"}


@router.get("/console", include_in_schema=False)
async def console() -> FileResponse:
    return FileResponse(STATIC / "console.html", media_type="text/html; charset=utf-8", headers=HEADERS)


@router.get("/console.js", include_in_schema=False)
async def console_js() -> FileResponse:
    return FileResponse(STATIC / "console.js", media_type="text/javascript; charset=utf-8", headers=HEADERS)


@router.get("/console.css", include_in_schema=False)
async def console_css() -> FileResponse:
    return FileResponse(STATIC / "console.css", media_type="text/css; charset=utf-8", headers=HEADERS)
