/**
 * The one way the frontend talks to the cusprun server extension: `{baseUrl}cusprun/<path>`
 * through JupyterLab's `ServerConnection` (its authentication, XSRF and base URL).
 */
import { ServerConnection } from '@jupyterlab/services';
import {
  EVENTS_PATH,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION
} from '../core/protocol';

/** An HTTP answer that was not 2xx, or no answer (status 0). */
export class APIError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body?: unknown
  ) {
    super(message);
    this.name = 'APIError';
  }
}

/** What went wrong, in words: an error's message, or the thrown value itself. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Calls `{baseUrl}cusprun/<endPoint>` and returns its JSON (null for an empty body). Throws
 * `APIError` with the HTTP status (0 when the server cannot be reached) and the error's message.
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = join(settings.baseUrl, `cusprun/${endPoint}`);
  const headers = new Headers(init.headers);
  headers.set(PROTOCOL_HEADER, String(PROTOCOL_VERSION));
  if (init.body !== undefined && !headers.has('Content-Type')) {
    headers.set('Content-Type', 'application/json');
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url,
      { ...init, headers },
      settings
    );
  } catch (error) {
    throw new APIError(0, errorMessage(error));
  }
  const text = await response.text();
  let body: unknown = null;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (!response.ok) {
    const err = (body as { error?: { message?: string }; message?: string })
      ?.error;
    const message =
      err?.message ??
      (body as { message?: string })?.message ??
      `HTTP ${response.status} ${response.statusText}`;
    throw new APIError(response.status, message, body);
  }
  return body as T;
}

/** The events WebSocket's URL: `{wsUrl}cusprun/api/events`, stating the protocol version. */
export function eventsURL(
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): string {
  return (
    join(settings.wsUrl, `cusprun${EVENTS_PATH}`) +
    `?protocol=${PROTOCOL_VERSION}`
  );
}

function join(base: string, path: string): string {
  return base.replace(/\/+$/, '') + '/' + path.replace(/^\/+/, '');
}

/** `api/runs/RUN`, or one of its routes. */
export function runPath(run: string, ...tail: string[]): string {
  return [`api/runs/${encodeURIComponent(run)}`, ...tail].join('/');
}

/** POSTs `body` as JSON to the sidecar's route. */
export function postAPI<T>(
  endPoint: string,
  body: unknown,
  settings: ServerConnection.ISettings
): Promise<T> {
  return requestAPI<T>(
    endPoint,
    { method: 'POST', body: JSON.stringify(body) },
    settings
  );
}
