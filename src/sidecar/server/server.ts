/**
 * `cusprun serve`: the sidecar's HTTP and WebSocket server on 127.0.0.1. It prints one JSON line
 * (ReadyLine) on stdout once it listens, asks for its token on every request and socket, and
 * stops when its stdin closes (the process that started it is gone) or on SIGTERM/SIGINT,
 * after its running jobs reached a checkpoint.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import { Duplex } from 'node:stream';
import { RawData, WebSocket, WebSocketServer } from 'ws';
import { CusprunError } from '../../core/errors';
import {
  ClientMessage,
  ErrorBody,
  EVENTS_PATH,
  JobEvent,
  MAX_BODY_BYTES,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  protocolMismatchMessage,
  ReadyLine,
  RequestError,
  ServerMessage
} from '../../core/protocol';
import { checkDepth, readClientMessage } from '../../core/protocol/validate';
import { toolVersions } from '../run-folder';
import { RunStore, storeRoot } from '../run-store';
import { Api, errorReply, Reply } from './api';
import { describeError } from './errors';
import { Queries } from './queries';
import { EventSink, JobQueue } from './queue';

export interface ServeOptions {
  /** The run store folder (default: CUSPRUN_STORE, else `.cusprun`). */
  store?: string;
  /** 0 (default): a free port. */
  port?: number;
  /** Stop when stdin closes (default true); off for a sidecar started in the background by hand. */
  watchStdin?: boolean;
  /** How long a stop waits for jobs that cannot stop midway. */
  graceMs?: number;
}

const HOST = '127.0.0.1';
/** A body this much over the limit is not even read to its end. */
const DRAIN_LIMIT = 16 * MAX_BODY_BYTES;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Compares digests, so the comparison takes the same time whatever the guess. */
function tokenChecker(token: string) {
  const expected = digest(token);
  return (given: string | undefined | null) =>
    typeof given === 'string' && timingSafeEqual(digest(given), expected);
}

function headerToken(req: http.IncomingMessage): string | undefined {
  return /^token\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
}

const UNAUTHORIZED = new RequestError(
  401,
  'unauthorized',
  "missing or wrong token: send 'Authorization: token <token>' (the token is CUSPRUN_TOKEN, or the one in the sidecar's ready line)"
);

/** A client's stated protocol version, checked; none stated is accepted. */
function checkProtocol(stated: string | string[] | null | undefined): void {
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

function noBody(): RequestError {
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
function refuseUpgrade(socket: Duplex, error: RequestError): void {
  const body = JSON.stringify({
    error: { code: error.code, message: error.message }
  } satisfies ErrorBody);
  socket.end(
    `HTTP/1.1 ${error.status} ${http.STATUS_CODES[error.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/** Runs the sidecar until it is stopped; resolves once it has. */
export async function serve(options: ServeOptions = {}): Promise<void> {
  const store = new RunStore(storeRoot(options.store));
  for (const job of store.recoverInterrupted()) {
    process.stderr.write(
      `cusprun sidecar: ${job.type} job ${job.id} on run '${job.run}' was interrupted by a stop of its sidecar\n`
    );
  }
  const fromEnv = process.env.CUSPRUN_TOKEN;
  const token = fromEnv || randomBytes(32).toString('hex');
  const authorized = tokenChecker(token);
  const versions = toolVersions();

  /** Each socket with the runs it wants events of (null: all). */
  const clients = new Map<WebSocket, string[] | null>();
  const wants = (runs: string[] | null, run: string | undefined) =>
    runs === null || (run !== undefined && runs.includes(run));
  const sink: EventSink = {
    broadcast(event: JobEvent) {
      const text = JSON.stringify({
        type: 'event',
        event
      } satisfies ServerMessage);
      for (const [ws, runs] of clients) {
        if (wants(runs, event.run)) {
          ws.send(text);
        }
      }
    },
    listening: run => [...clients.values()].some(runs => wants(runs, run))
  };
  const queue = new JobQueue(store, sink);
  const api = new Api(store, queue, new Queries(store), () => ({
    status: 'ok',
    protocol: PROTOCOL_VERSION,
    versions,
    pid: process.pid,
    store: store.root,
    jobs: queue.counts()
  }));

  const onRequest = async (
    req: http.IncomingMessage,
    res: http.ServerResponse
  ) => {
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

  const onMessage = async (ws: WebSocket, data: RawData) => {
    const send = (m: ServerMessage) => ws.send(JSON.stringify(m));
    let message: ClientMessage;
    try {
      message = readClientMessage(data.toString());
    } catch (error) {
      send({ type: 'error', error: describeError(error, 'a message').error });
      return;
    }
    if (message.type === 'subscribe') {
      clients.set(ws, message.runs);
      return;
    }
    const { id, method, path, body } = message;
    const reply = await api.handle(method, path.split('?')[0], () => {
      if (body === undefined) {
        throw noBody();
      }
      return body;
    });
    send({ type: 'response', id, ...reply });
  };

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_BODY_BYTES
  });
  const server = http.createServer((req, res) => void onRequest(req, res));
  server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', `http://${HOST}`);
    if (url.pathname !== EVENTS_PATH) {
      refuseUpgrade(
        socket,
        new RequestError(
          404,
          'no-route',
          `the WebSocket is at ${EVENTS_PATH}, not ${url.pathname}`
        )
      );
      return;
    }
    if (!authorized(headerToken(req) ?? url.searchParams.get('token'))) {
      refuseUpgrade(socket, UNAUTHORIZED);
      return;
    }
    wss.handleUpgrade(req, socket, head, ws => {
      ws.on('error', () => clients.delete(ws));
      try {
        checkProtocol(
          url.searchParams.get('protocol') ??
            req.headers[PROTOCOL_HEADER.toLowerCase()]
        );
      } catch (error) {
        // Accepted, told and closed: a browser cannot read a refused upgrade's body.
        ws.send(
          JSON.stringify({
            type: 'error',
            error: describeError(error, 'a socket').error
          } satisfies ServerMessage)
        );
        ws.close(4409, 'protocol mismatch');
        return;
      }
      clients.set(ws, null);
      ws.on('close', () => clients.delete(ws));
      ws.on('message', data => void onMessage(ws, data));
      ws.send(
        JSON.stringify({
          type: 'hello',
          protocol: PROTOCOL_VERSION,
          versions
        } satisfies ServerMessage)
      );
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new CusprunError(
              'busy',
              `port ${options.port} on ${HOST} is taken; give another --port, or none for a free one`
            )
          : error
      )
    );
    server.listen(options.port ?? 0, HOST, () => resolve());
  });
  const address = server.address() as { port: number };
  const ready: ReadyLine = {
    host: HOST,
    port: address.port,
    pid: process.pid,
    protocol: PROTOCOL_VERSION,
    store: store.root,
    ...(fromEnv ? {} : { token })
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);

  await new Promise<void>(resolve => {
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) {
        return;
      }
      stopping = true;
      process.stderr.write(`cusprun sidecar: stopping (${why})\n`);
      server.close();
      void queue.shutdown(options.graceMs ?? 10_000).then(() => {
        for (const ws of clients.keys()) {
          ws.close(1001, 'the sidecar stopped');
        }
        server.closeAllConnections();
        process.stdin.destroy();
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onInt);
        resolve();
      });
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    if (options.watchStdin ?? true) {
      process.stdin.on('end', () => stop('stdin closed'));
      process.stdin.on('error', () => stop('stdin closed'));
      process.stdin.resume();
    }
  });
}
