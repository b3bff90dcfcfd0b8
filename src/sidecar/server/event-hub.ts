/**
 * The sidecar's WebSocket at EVENTS_PATH: each client gets the job events of the runs it
 * subscribed to (all, until it says), and may send `request` messages the route table answers
 * as HTTP would. A client of another protocol version is told so and closed.
 */
import * as http from 'node:http';
import { Duplex } from 'node:stream';
import { RawData, WebSocket, WebSocketServer } from 'ws';
import {
  ClientMessage,
  EVENTS_PATH,
  JobEvent,
  MAX_BODY_BYTES,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  RequestError,
  ServerMessage,
  Versions
} from '../../core/protocol';
import { readClientMessage } from '../../core/protocol/validate';
import { Api } from './api';
import { describeError } from './errors';
import {
  checkProtocol,
  headerToken,
  HOST,
  noBody,
  refuseUpgrade,
  UNAUTHORIZED
} from './http';
import { EventSink } from './queue';

export class EventHub {
  /** Each socket with the runs it wants events of (null: all). */
  private readonly clients = new Map<WebSocket, string[] | null>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_BODY_BYTES
  });

  constructor(
    private readonly versions: Versions,
    private readonly authorized: (token: string | null | undefined) => boolean
  ) {}

  /** Where the job queue sends its events. */
  readonly sink: EventSink = {
    broadcast: (event: JobEvent) => {
      const text = JSON.stringify({
        type: 'event',
        event
      } satisfies ServerMessage);
      for (const [ws, runs] of this.clients) {
        if (wants(runs, event.run)) {
          ws.send(text);
        }
      }
    },
    listening: run => [...this.clients.values()].some(runs => wants(runs, run))
  };

  /** Takes the server's upgrades to EVENTS_PATH; `api` answers the sockets' requests. */
  attach(server: http.Server, api: Api): void {
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
      if (!this.authorized(headerToken(req) ?? url.searchParams.get('token'))) {
        refuseUpgrade(socket, UNAUTHORIZED);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, ws =>
        this.open(
          ws,
          api,
          url.searchParams.get('protocol') ??
            req.headers[PROTOCOL_HEADER.toLowerCase()]
        )
      );
    });
  }

  private open(
    ws: WebSocket,
    api: Api,
    protocol: string | string[] | null | undefined
  ): void {
    ws.on('error', () => this.clients.delete(ws));
    try {
      checkProtocol(protocol);
    } catch (error) {
      // Accepted, told and closed: a browser cannot read a refused upgrade's body.
      send(ws, {
        type: 'error',
        error: describeError(error, 'a socket').error
      });
      ws.close(4409, 'protocol mismatch');
      return;
    }
    this.clients.set(ws, null);
    ws.on('close', () => this.clients.delete(ws));
    ws.on('message', data => void this.onMessage(ws, api, data));
    send(ws, {
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      versions: this.versions
    });
  }

  private async onMessage(ws: WebSocket, api: Api, data: RawData) {
    let message: ClientMessage;
    try {
      message = readClientMessage(data.toString());
    } catch (error) {
      send(ws, {
        type: 'error',
        error: describeError(error, 'a message').error
      });
      return;
    }
    if (message.type === 'subscribe') {
      this.clients.set(ws, message.runs);
      return;
    }
    const { id, method, path, body } = message;
    const reply = await api.handle(method, path.split('?')[0], () => {
      if (body === undefined) {
        throw noBody();
      }
      return body;
    });
    send(ws, { type: 'response', id, ...reply });
  }

  closeAll(): void {
    for (const ws of this.clients.keys()) {
      ws.close(1001, 'the sidecar stopped');
    }
  }
}

function wants(runs: string[] | null, run: string | undefined): boolean {
  return runs === null || (run !== undefined && runs.includes(run));
}

function send(ws: WebSocket, message: ServerMessage): void {
  ws.send(JSON.stringify(message));
}
