"""Tornado handlers of the server extension: the version handshake, and the sidecar's HTTP API and
WebSocket relayed under Jupyter's authentication (the sidecar's own token is added here and never
reaches the browser)."""

from __future__ import annotations

import json
import urllib.parse
from typing import TYPE_CHECKING

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import url_path_join
from tornado import web, websocket
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.ioloop import IOLoop

from ._version import __version__
from .session import PROTOCOL_HEADER, PROTOCOL_VERSION
from .sidecar_process import SETTINGS_KEY

if TYPE_CHECKING:
    from .sidecar_process import SidecarProcess

AUTH_RESOURCE = "cusprun"
#: request headers passed on to the sidecar (Authorization is replaced by the sidecar's token)
FORWARD_REQUEST = ("Content-Type", "Accept", PROTOCOL_HEADER)
#: response headers passed back (Content-Length etc. are tornado's business)
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


class RestartHandler(_CusprunMixin, APIHandler):
    @web.authenticated
    @authorized
    async def post(self):
        process = self.sidecar_process
        if process.state in ("failed", "stopped"):
            process._attempts = 0
            process.start()
        self.finish(json.dumps({"sidecar": process.info()}))


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
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except Exception as error:  # noqa: BLE001 - unreachable: most likely it just died
            self.log.warning("cusprun proxy: %s %s: %s", method, url, error)
            return self._unavailable()
        if response.code == 599:  # tornado's "no HTTP answer" (connection refused, reset, …)
            self.log.warning("cusprun proxy: %s %s: %s", method, url, response.error)
            return self._unavailable()
        self.set_status(response.code, response.reason or "Unknown")
        for name in FORWARD_RESPONSE:
            value = response.headers.get(name)
            if value is not None:
                self.set_header(name, value)
        if "Content-Encoding" in response.headers:
            self.set_header("Content-Encoding", response.headers["Content-Encoding"])
        if response.code in (204, 304):
            return self.finish()
        self.finish(response.body or b"")


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
