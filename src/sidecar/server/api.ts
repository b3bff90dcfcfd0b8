/**
 * The router: a request's method and path found in the route table (routes.ts), its handler
 * called, and a refusal (a RequestError, a CusprunError, a file system error the user can cause)
 * made an error reply; anything else is a bug, logged whole.
 */
import { RequestError } from '../../core/protocol';
import { describeError } from './errors';
import { Call, ROUTES, Services } from './routes';

export interface Reply {
  status: number;
  body: unknown;
}

/** A refusal (or a bug) as an error reply. */
export function errorReply(error: unknown): Reply {
  const { status, error: body } = describeError(error, 'a request');
  return { status, body: { error: body } };
}

export class Api {
  private readonly routes = ROUTES.map(route => ({
    route,
    pattern: route.path.split('/')
  }));

  constructor(private readonly services: Services) {}

  /** Answers one request; `body` parses the request's body (it may throw a 400). */
  async handle(
    method: string,
    pathname: string,
    body: () => unknown
  ): Promise<Reply> {
    try {
      let segments: string[];
      try {
        segments = pathname.split('/').map(decodeURIComponent);
      } catch {
        throw new RequestError(
          400,
          'bad-request',
          `the path ${pathname} is not valid percent-encoding`
        );
      }
      const matches = this.routes
        .map(({ route, pattern }) => ({
          route,
          params: match(pattern, segments)
        }))
        .filter(m => m.params !== undefined);
      if (matches.length === 0) {
        throw new RequestError(
          404,
          'no-route',
          `no such endpoint: ${pathname}`
        );
      }
      const found = matches.find(m => m.route.method === method);
      if (!found) {
        throw new RequestError(
          405,
          'method-not-allowed',
          `${pathname} takes ${matches.map(m => m.route.method).join(' or ')}, not ${method}`
        );
      }
      const call: Call = {
        params: found.params as Record<string, string>,
        body
      };
      const answer = await found.route.answer(this.services, call);
      return { status: found.route.status ?? 200, body: answer };
    } catch (error) {
      return errorReply(error);
    }
  }
}

function match(
  pattern: string[],
  segments: string[]
): Record<string, string> | undefined {
  if (pattern.length !== segments.length) {
    return undefined;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i].startsWith(':')) {
      params[pattern[i].slice(1)] = segments[i];
    } else if (pattern[i] !== segments[i]) {
      return undefined;
    }
  }
  return params;
}
