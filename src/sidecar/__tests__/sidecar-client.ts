/**
 * A Node client of the sidecar, for scripts, benchmarks and tests: start `cusprun serve` as a
 * child process and read its ready line, then talk to it over HTTP or the WebSocket.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as http from 'node:http';
import { WebSocket } from 'ws';
import {
  EVENTS_PATH,
  JobEvent,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  ReadyLine,
  ServerMessage
} from '../../core/protocol';

export interface Response<T = unknown> {
  status: number;
  body: T;
}

export interface RequestOptions {
  /** Headers to send; `Authorization` and the protocol header unless overridden. */
  headers?: Record<string, string>;
  /** A body sent as it is, instead of `body` as JSON. */
  raw?: string | Buffer;
}

export class SidecarClient {
  constructor(
    readonly port: number,
    readonly token: string
  ) {}

  private headers(extra: Record<string, string> = {}) {
    return {
      Authorization: `token ${this.token}`,
      [PROTOCOL_HEADER]: String(PROTOCOL_VERSION),
      ...extra
    };
  }

  request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    options: RequestOptions = {}
  ): Promise<Response<T>> {
    const payload =
      options.raw ?? (body === undefined ? undefined : JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          // A connection per request: a kept-alive socket the sidecar closed while this
          // process was blocked (spawnSync) would be reused and hang up.
          agent: false,
          method,
          path,
          headers: {
            ...(payload !== undefined
              ? { 'Content-Type': 'application/json' }
              : {}),
            ...this.headers(options.headers)
          }
        },
        res => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({
              status: res.statusCode ?? 0,
              body: (text ? JSON.parse(text) : undefined) as T
            });
          });
          res.on('error', reject);
        }
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Opens the event socket; resolves on the sidecar's hello (or its error, if it sends one). */
  socket(
    options: {
      query?: Record<string, string>;
      headers?: Record<string, string>;
    } = {}
  ): Promise<SidecarSocket> {
    const query = new URLSearchParams(options.query ?? {}).toString();
    const ws = new WebSocket(
      `ws://127.0.0.1:${this.port}${EVENTS_PATH}${query ? `?${query}` : ''}`,
      { headers: options.headers ?? this.headers() }
    );
    const socket = new SidecarSocket(ws);
    return new Promise((resolve, reject) => {
      ws.once('error', reject);
      ws.once('message', () => resolve(socket));
    });
  }
}

export class SidecarSocket {
  /** Every message received, in order. */
  readonly messages: ServerMessage[] = [];
  /** Pending waitFor calls: each sees every new message once, and the close. */
  private readonly waiters = new Set<(m?: ServerMessage) => void>();
  private nextId = 0;
  closed?: { code: number; reason: string };

  constructor(private readonly ws: WebSocket) {
    ws.on('message', data => {
      const message = JSON.parse(data.toString()) as ServerMessage;
      this.messages.push(message);
      this.waiters.forEach(w => w(message));
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.waiters.forEach(w => w());
    });
  }

  /** The job events received so far. */
  events(): JobEvent[] {
    return this.messages.flatMap(m => (m.type === 'event' ? [m.event] : []));
  }

  /** Resolves with the first message (seen or to come) that `test` accepts. */
  waitFor(
    test: (m: ServerMessage) => boolean,
    timeoutMs = 60_000
  ): Promise<ServerMessage> {
    const seen = this.messages.find(test);
    if (seen) {
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const done = () => {
        this.waiters.delete(waiter);
        clearTimeout(timer);
      };
      const waiter = (m?: ServerMessage) => {
        if (m && test(m)) {
          done();
          resolve(m);
        } else if (!m) {
          done();
          reject(new Error(`the socket closed (${this.closed?.code})`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no such message within ${timeoutMs} ms`));
      }, timeoutMs);
      if (this.closed) {
        waiter();
      } else {
        this.waiters.add(waiter);
      }
    });
  }

  /** Resolves with the first event of this job and type (seen or to come). */
  waitForEvent(
    job: string,
    type: JobEvent['type'] | JobEvent['type'][],
    timeoutMs?: number
  ): Promise<JobEvent> {
    const types = Array.isArray(type) ? type : [type];
    return this.waitFor(
      m =>
        m.type === 'event' &&
        m.event.job === job &&
        types.includes(m.event.type),
      timeoutMs
    ).then(m => (m as Extract<ServerMessage, { type: 'event' }>).event);
  }

  /** A request over the socket: the same routes as HTTP. */
  async request<T = unknown>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: unknown
  ): Promise<Response<T>> {
    const id = ++this.nextId;
    const answer = this.waitFor(m => m.type === 'response' && m.id === id);
    this.send({ type: 'request', id, method, path, body });
    const m = (await answer) as Extract<ServerMessage, { type: 'response' }>;
    return { status: m.status, body: m.body as T };
  }

  send(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  close(): void {
    this.ws.close();
  }
}

export interface SidecarProcess {
  child: ChildProcess;
  ready: ReadyLine;
  client: SidecarClient;
  /** What the sidecar wrote on stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (or signal) once the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node CLI serve ARGS…` and resolves once it printed its ready line. */
export function spawnSidecar(
  cli: string,
  args: string[],
  options: { token?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}
): Promise<SidecarProcess> {
  const env = { ...process.env, ...options.env };
  delete env.CUSPRUN_TOKEN;
  if (options.token) {
    env.CUSPRUN_TOKEN = options.token;
  }
  const child = spawn(process.execPath, [cli, 'serve', ...args], {
    cwd: options.cwd,
    env,
    stdio: ['pipe', 'pipe', 'pipe']
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
  }>(resolve => child.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout?.on('data', (c: Buffer) => {
      const waiting = !stdout.includes('\n');
      stdout += c.toString();
      const newline = stdout.indexOf('\n');
      if (!waiting || newline < 0) {
        return;
      }
      const ready = JSON.parse(stdout.slice(0, newline)) as ReadyLine;
      resolve({
        child,
        ready,
        client: new SidecarClient(
          ready.port,
          ready.token ?? (options.token as string)
        ),
        stderr: () => stderr,
        exited
      });
    });
    void exited.then(({ code, signal }) =>
      reject(
        new Error(
          `the sidecar exited (${code ?? signal}) before it was ready:\n${stderr}`
        )
      )
    );
  });
}
