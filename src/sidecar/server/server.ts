/**
 * `cusprun serve`: the sidecar's HTTP and WebSocket server on 127.0.0.1. It prints one JSON line
 * (ReadyLine) on stdout once it listens, asks for its token on every request and socket, and
 * stops when its stdin closes (the process that started it is gone) or on SIGTERM/SIGINT,
 * after its running jobs reached a checkpoint.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { CusprunError } from '../../core/errors';
import { PROTOCOL_VERSION, ReadyLine } from '../../core/protocol';
import { toolVersions } from '../run-folder';
import { RunStore, storeRoot } from '../run-store';
import { Api } from './api';
import { EventHub } from './event-hub';
import { HOST, requestHandler, tokenChecker } from './http';
import { Queries } from './queries';
import { JobQueue } from './queue';

export interface ServeOptions {
  /** The run store folder (default: see `storeRoot`). */
  store?: string;
  /** 0 (default): a free port. */
  port?: number;
  /** Stop when stdin closes (default true); off for a sidecar started in the background by hand. */
  watchStdin?: boolean;
  /** How long a stop waits for jobs that cannot stop midway. */
  graceMs?: number;
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
  const hub = new EventHub(versions, authorized);
  const queue = new JobQueue(store, hub.sink);
  const api = new Api({
    store,
    queue,
    queries: new Queries(store),
    health: () => ({
      status: 'ok',
      protocol: PROTOCOL_VERSION,
      versions,
      pid: process.pid,
      store: store.root,
      jobs: queue.counts()
    })
  });
  const handle = requestHandler(api, authorized);
  const server = http.createServer((req, res) => void handle(req, res));
  hub.attach(server, api);
  const port = await listen(server, options.port);
  const ready: ReadyLine = {
    host: HOST,
    port,
    pid: process.pid,
    protocol: PROTOCOL_VERSION,
    store: store.root,
    ...(fromEnv ? {} : { token })
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  await untilStopped(options, async () => {
    server.close();
    await queue.shutdown(options.graceMs ?? 10_000);
    hub.closeAll();
    server.closeAllConnections();
  });
}

/** Listens on HOST; resolves with the port (a taken --port is the user's to change). */
function listen(server: http.Server, port = 0): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new CusprunError(
              'busy',
              `port ${port} on ${HOST} is taken; give another --port, or none for a free one`
            )
          : error
      )
    );
    server.listen(port, HOST, () =>
      resolve((server.address() as { port: number }).port)
    );
  });
}

/** Waits for SIGTERM, SIGINT or (if watched) stdin's end, then runs `stop` once. */
function untilStopped(
  options: ServeOptions,
  stop: () => Promise<void>
): Promise<void> {
  return new Promise<void>(resolve => {
    let stopping = false;
    const onStop = (why: string) => {
      if (stopping) {
        return;
      }
      stopping = true;
      process.stderr.write(`cusprun sidecar: stopping (${why})\n`);
      void stop().then(() => {
        process.stdin.destroy();
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onInt);
        resolve();
      });
    };
    const onTerm = () => onStop('SIGTERM');
    const onInt = () => onStop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    if (options.watchStdin ?? true) {
      process.stdin.on('end', () => onStop('stdin closed'));
      process.stdin.on('error', () => onStop('stdin closed'));
      process.stdin.resume();
    }
  });
}
