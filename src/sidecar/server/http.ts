/**
 * The sidecar's HTTP side: the token and the protocol version checked on every request, the
 * body read within its size and depth limits, and the route table's answer sent as JSON. A
 * client that goes away mid-request is neither answered nor logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import { Duplex } from 'node:stream';
import {
  ErrorBody,
  MAX_BODY_BYTES,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  protocolMismatchMessage,
  RequestError
} from '../../core/protocol';
import { checkDepth } from '../../core/protocol/validate';
import { Api, errorReply, Reply } from './api';

export const HOST = '127.0.0.1';
/** A body this much over the limit is not even read to its end. */
const DRAIN_LIMIT = 16 * MAX_BODY_BYTES;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Compares digests, so the comparison takes the same time whatever the guess. */
export function tokenChecker(token: string) {
  const expected = digest(token);
  return (given: string | undefined | null) =>
    typeof given === 'string' && timingSafeEqual(digest(given), expected);
}

export function headerToken(req: http.IncomingMessage): string | undefined {
  return /^token\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
}

export const UNAUTHORIZED = new RequestError(
  401,
  'unauthorized',
  "missing or wrong token: send 'Authorization: token <token>' (the token is CUSPRUN_TOKEN, or the one in the sidecar's ready line)"
);

/** A client's stated protocol version, checked; none stated is accepted. */
export function checkProtocol(
  stated: string | string[] | null | undefined
): void {
  const value = Array.isArray(stated) ? stated[0] : stated;
  if (
    value !== undefined &&
    value !== null &&
    value !== String(PROTOCOL_VERSION)
  ) {
    throw new RequestError(
      409,
      'protocol-mismatch',
      protocolMismatchMessage(value)
    );
  }
}

export function noBody(): RequestError {
  return new RequestError(
    400,
    'bad-request',
    'the request has no body: send a JSON object'
  );
}

function parseBody(text: string): unknown {
  if (text.trim() === '') {
    throw noBody();
  }
  checkDepth(text, 'the request body');
  try {
    return JSON.parse(text);
  } catch (error) {
    // One line: V8's message may quote the body, line breaks and all.
    const reason = (error as SyntaxError).message.replace(/\s+/g, ' ');
    throw new RequestError(
      400,
      'bad-request',
      `the request body is not valid JSON (${reason})`
    );
  }
}

function tooLarge(): RequestError {
  return new RequestError(
    413,
    'too-large',
    `the request body is over the limit of ${MAX_BODY_BYTES} bytes`
  );
}

/** The client went away before its request ended: nobody to answer, nothing to log. */
class ClientGone extends Error {}

/**
 * Reads a body up to the limit; past it, drains (up to DRAIN_LIMIT, then drops the connection)
 * and refuses. A body that never ends (the client aborted, or was dropped) is ClientGone.
 */
function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) {
        chunks.push(chunk);
      } else if (size > DRAIN_LIMIT) {
        req.destroy();
      }
    });
    req.on('end', () =>
      size > MAX_BODY_BYTES
        ? reject(tooLarge())
        : resolve(Buffer.concat(chunks).toString('utf8'))
    );
    // An aborted body is an 'error' (ECONNRESET), a dropped one only a 'close'.
    req.on('error', () => reject(new ClientGone()));
    req.on('close', () => reject(new ClientGone()));
  });
}

function sendJson(
  res: http.ServerResponse,
  reply: Reply,
  headers: http.OutgoingHttpHeaders = {}
): void {
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers
  });
  res.end(text);
}

/** Refuses a WebSocket upgrade with an HTTP status and an error body. */
export function refuseUpgrade(socket: Duplex, error: RequestError): void {
  const body = JSON.stringify({
    error: { code: error.code, message: error.message }
  } satisfies ErrorBody);
  socket.end(
    `HTTP/1.1 ${error.status} ${http.STATUS_CODES[error.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/** Answers HTTP requests from the route table, for clients that hold the token. */
export function requestHandler(
  api: Api,
  authorized: (token: string | undefined) => boolean
): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  return async (req, res) => {
    try {
      if (!authorized(headerToken(req))) {
        throw UNAUTHORIZED;
      }
      checkProtocol(req.headers[PROTOCOL_HEADER.toLowerCase()]);
      if (Number(req.headers['content-length'] ?? 0) > DRAIN_LIMIT) {
        sendJson(res, errorReply(tooLarge()), { Connection: 'close' });
        req.destroy();
        return;
      }
      const text = await readBody(req);
      const { pathname } = new URL(req.url ?? '/', `http://${HOST}`);
      sendJson(
        res,
        await api.handle(req.method ?? 'GET', pathname, () => parseBody(text))
      );
    } catch (error) {
      if (error instanceof ClientGone) {
        return;
      }
      sendJson(
        res,
        errorReply(error),
        error === UNAUTHORIZED ? { 'WWW-Authenticate': 'token' } : {}
      );
    }
  };
}
