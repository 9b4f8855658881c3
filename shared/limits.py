"""Abuse limits: a cap on every request body, and a sliding-window counter for rate limits.

The body cap is ASGI middleware: a declared Content-Length over the cap is refused before a byte is
read, and a streamed body is counted as it arrives and refused once it passes the cap; both answer
413 problem+json naming the limit. NDJSON bulk uploads (paths under /v1/bulk/) have their own,
larger cap (SKILLSUB_MAX_BULK_BYTES); every other route has SKILLSUB_MAX_BODY_BYTES.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from shared.problems import problem_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
BULK_PREFIX = "/v1/bulk/"


class BodyLimit:
    """413 for a body over the route's cap, declared or streamed."""

    def __init__(self, app: ASGIApp, *, default: int, bulk: int) -> None:
        self.app, self.default, self.bulk = app, default, bulk

    def limit_for(self, path: str) -> int:
        return self.bulk if path.startswith(BULK_PREFIX) else self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        seen, started, refused = 0, False, False

        async def counted() -> Message:
            # Past the cap: answer 413 now and tell the app the client left, so whatever the app
            # makes of the cut body (FastAPI answers 400 to a body it could not read) goes nowhere.
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    if not started:
                        await _too_large(limit)(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, tracked)


def _too_large(limit: int) -> Any:
    return problem_response(413, "Request body too large", f"the body may be at most {limit} bytes",
                            errors=[{"field": "body", "problem": f"over {limit} bytes"}])


class SlidingWindow:
    """At most `limit` events per key in any `window` seconds (in this process)."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count an attempt; False (and not counted) once the key is over its limit."""
        now = time.monotonic() if now is None else now
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._evict(now)
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True

    def retry_after(self, key: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        hits = self._hits.get(key)
        return max(1, int(hits[0] + self.window - now) + 1) if hits else 1

    def _evict(self, now: float) -> None:
        stale = [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window]
        for k in stale:
            del self._hits[k]
        if len(self._hits) >= self.max_keys:  # every key is live: drop the oldest half
            for k in list(self._hits)[: self.max_keys // 2]:
                del self._hits[k]
