"""Tornado handlers of the server extension: the version handshake, the sidecar's restart (on
another run store, say), and the sidecar's HTTP API (answers streamed as they come) and WebSocket
relayed under Jupyter's authentication (the sidecar's own token is added here and never reaches
the browser)."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import url_path_join
from tornado import httputil, web, websocket
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.ioloop import IOLoop

from ._version import __version__
from .contract import PROTOCOL_HEADER, PROTOCOL_VERSION
from .errors import CusprunError
from .sidecar_process import SETTINGS_KEY, resolve_store

if TYPE_CHECKING:
    from .sidecar_process import SidecarProcess

AUTH_RESOURCE = "cusprun"
#: request headers passed on to the sidecar (Authorization is replaced by the sidecar's token)
FORWARD_REQUEST = ("Content-Type", "Accept", PROTOCOL_HEADER)
#: response headers passed back (besides Content-Encoding; Content-Length etc. are tornado's
#: business)
FORWARD_RESPONSE = ("Content-Type", "Retry-After", "Cache-Control")
PROXY_TIMEOUT = 3600.0


def _query_without_token(query: str) -> str:
    """The query string minus Jupyter's `token` (the sidecar gets its own in a header)."""
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return urllib.parse.urlencode([(k, v) for k, v in pairs if k != "token"])


class _CusprunMixin:
    auth_resource = AUTH_RESOURCE

    @property
    def sidecar_process(self) -> SidecarProcess:
        return self.settings[SETTINGS_KEY]  # type: ignore[attr-defined]

    def unavailable_body(self) -> str:
        process = self.sidecar_process
        code = "sidecar-failed" if process.state == "failed" else "sidecar-unavailable"
        return json.dumps(
            {
                "error": {"code": code, "message": process.unavailable()},
                "sidecar": process.info(),
            }
        )


class VersionHandler(_CusprunMixin, APIHandler):
    @web.authenticated
    @authorized
    async def get(self):
        self.finish(
            json.dumps(
                {
                    "version": __version__,
                    "protocol": PROTOCOL_VERSION,
                    "sidecar": self.sidecar_process.info(),
                }
            )
        )


def _requested_store(body: bytes, root: str, default: str) -> str | None:
    """The run store a restart request names (``{"store": PATH}``, PATH relative to the server's
    root folder `root` or absolute) as an absolute path; ``""`` names the server's own store
    `default` (its config's, the frontend setting's default); None when it names none."""
    if not body.strip():
        return None
    try:
        request = json.loads(body)
    except ValueError as error:
        raise CusprunError(
            f'the restart request is not JSON ({error}): send {{"store": PATH}} or nothing',
            "bad-request",
            400,
        ) from None
    if not isinstance(request, dict):
        raise CusprunError(
            'the restart request must be a JSON object: {"store": PATH} or nothing',
            "bad-request",
            400,
        )
    store = request.get("store")
    if store is None:
        return None
    if not isinstance(store, str):
        raise CusprunError(
            f"store: must be a string (a folder, relative to the server's root folder or "
            f'absolute; "" for the server\'s own), got {json.dumps(store)}',
            "bad-request",
            400,
        )
    if not store.strip():
        return default
    path = resolve_store(root, store)
    if os.path.exists(path) and not os.path.isdir(path):
        raise CusprunError(
            f"store: {path} exists and is not a folder (a run store is a folder)",
            "bad-request",
            400,
        )
    return path


class RestartHandler(_CusprunMixin, APIHandler):
    """Starts the sidecar again if it gave up, or on the run store the body names; answers the
    state it came to."""

    @web.authenticated
    @authorized
    async def post(self):
        process = self.sidecar_process
        try:
            store = _requested_store(self.request.body or b"", process.cwd, process.own_store)
        except CusprunError as error:
            self.set_status(error.status or 400)
            self.finish(json.dumps({"error": {"code": error.code, "message": str(error)}}))
            return
        restarted = await process.restart(store)
        self.finish(json.dumps({"restarted": restarted, "sidecar": process.info()}))


class ProxyHandler(_CusprunMixin, APIHandler):
    """`/cusprun/api/<path>` → the sidecar's `/api/<path>`: status, body and JSON as they are."""

    @web.authenticated
    @authorized
    async def get(self, path):
        await self._proxy(path)

    @web.authenticated
    @authorized
    async def post(self, path):
        await self._proxy(path)

    @web.authenticated
    @authorized
    async def put(self, path):
        await self._proxy(path)

    @web.authenticated
    @authorized
    async def patch(self, path):
        await self._proxy(path)

    @web.authenticated
    @authorized
    async def delete(self, path):
        await self._proxy(path)

    def _unavailable(self) -> None:
        self.clear()  # whatever the sidecar's answer had set before it broke off
        self.set_status(503)
        self.set_header("Content-Type", "application/json")
        self.set_header("Retry-After", "1")
        self.finish(self.unavailable_body())

    async def _proxy(self, path: str) -> None:
        sidecar = self.sidecar_process.running()
        if sidecar is None:
            return self._unavailable()
        url = f"{sidecar.url}/api/{urllib.parse.quote(path, safe='/:@!$&()*+,;=-._~')}"
        query = _query_without_token(self.request.query)
        if query:
            url += "?" + query
        headers = {"Authorization": f"token {sidecar.token}"}
        for name in FORWARD_REQUEST:
            if name in self.request.headers:
                headers[name] = self.request.headers[name]
        method = self.request.method
        has_body = method in ("POST", "PUT", "PATCH") or bool(self.request.body)
        body = (self.request.body or b"") if has_body else None
        upstream = _Upstream(self)
        request = HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=body,
            follow_redirects=False,
            allow_nonstandard_methods=True,
            connect_timeout=10,
            request_timeout=PROXY_TIMEOUT,
            decompress_response=False,
            header_callback=upstream.header_line,
            streaming_callback=upstream.chunk,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
            error = response.error if response.code == 599 else None  # 599: no (whole) answer
        except Exception as raised:  # noqa: BLE001 - unreachable: most likely it just died
            error = raised
        if error is not None:
            self.log.warning("cusprun proxy: %s %s: %s", method, url, error)
            if not upstream.wrote:
                return self._unavailable()
            # part of the answer is out: a closed connection tells the client it is cut short
            self.request.connection.close()
            return
        self.finish()


class _Upstream:
    """The sidecar's answer passed on as it arrives: tornado's header and streaming callbacks."""

    def __init__(self, handler: ProxyHandler):
        self.handler = handler
        self.code: int | None = None
        self.reason = ""
        self.headers = httputil.HTTPHeaders()
        #: whether any of the answer went out to the client (then no error answer can replace it)
        self.wrote = False

    def header_line(self, line: str) -> None:
        """Each header line: the status line first, the headers, then an empty line."""
        if self.code is None:
            _, code, self.reason = (line.rstrip("\r\n").split(" ", 2) + [""])[:3]
            self.code = int(code)
        elif line.strip():
            self.headers.parse_line(line)
        else:
            self.handler.set_status(self.code, self.reason or "Unknown")
            # Content-Length stays out: the answer goes out in chunks as it comes
            for name in (*FORWARD_RESPONSE, "Content-Encoding"):
                if name in self.headers:
                    self.handler.set_header(name, self.headers[name])

    def chunk(self, data: bytes) -> Awaitable[None] | None:
        if self.code in (204, 304):  # no body, whatever the sidecar sends
            return None
        self.wrote = True
        self.handler.write(data)
        # the sidecar's next chunk is read once this one is out: a slow client is not buffered for
        return self.handler.flush()


class EventsHandler(_CusprunMixin, WebSocketMixin, JupyterHandler, websocket.WebSocketHandler):
    """`/cusprun/api/events` ↔ the sidecar's `/api/events`, both directions, as they come."""

    upstream: websocket.WebSocketClientConnection | None = None

    async def pre_get(self):
        user = self.current_user
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, user, "read", AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403)

    @ws_authenticated
    async def get(self, *args, **kwargs):
        await self.pre_get()
        if self.sidecar_process.running() is None:
            self.set_status(503)
            self.set_header("Content-Type", "application/json")
            self.set_header("Retry-After", "1")
            self.finish(self.unavailable_body())
            return
        result = super().get(*args, **kwargs)
        if result is not None:
            await result

    async def open(self, *args, **kwargs):
        sidecar = self.sidecar_process.running()
        if sidecar is None:
            self.close(1013, "the cusprun sidecar is restarting")
            return
        ws_url = "ws" + sidecar.url[len("http") :] + "/api/events"
        query = _query_without_token(self.request.query)
        if query:
            ws_url += "?" + query
        headers = {"Authorization": f"token {sidecar.token}"}
        if PROTOCOL_HEADER in self.request.headers:
            headers[PROTOCOL_HEADER] = self.request.headers[PROTOCOL_HEADER]
        try:
            self.upstream = await websocket.websocket_connect(
                HTTPRequest(ws_url, headers=headers, connect_timeout=10)
            )
        except Exception as error:  # noqa: BLE001 - refused or gone: tell the client
            self.log.warning("cusprun events: cannot reach the sidecar: %s", error)
            self.close(1011, "cannot reach the cusprun sidecar")
            return
        IOLoop.current().add_callback(self._relay_down)

    async def _relay_down(self) -> None:
        upstream = self.upstream
        while upstream is not None:
            message = await upstream.read_message()
            if message is None:
                break
            try:
                await self.write_message(message, binary=isinstance(message, bytes))
            except websocket.WebSocketClosedError:
                break
        # the sidecar closed (or died): close the client, which reconnects when it is back
        code = upstream.close_code if upstream is not None else None
        reason = upstream.close_reason if upstream is not None else None
        if self.ws_connection is not None:
            self.close(code or 1012, reason or "the cusprun sidecar closed the connection")

    def on_message(self, message):
        if self.upstream is not None:
            try:
                self.upstream.write_message(message, binary=isinstance(message, bytes))
            except websocket.WebSocketClosedError:
                self.close(1012, "the cusprun sidecar closed the connection")

    def on_close(self):
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.close()


def handlers(base_url: str) -> list:
    def url(path: str) -> str:
        return url_path_join(base_url, "cusprun", path)

    return [
        (url("version"), VersionHandler),
        (url("sidecar/restart"), RestartHandler),
        (url("api/events"), EventsHandler),
        (url("api/(.*)"), ProxyHandler),
    ]
