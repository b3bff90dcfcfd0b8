/**
 * The sidecar's routes, apart from the transport: HTTP requests and WebSocket `request`
 * messages both end here, so the two answer alike. A handler returns its JSON body; a refusal
 * is thrown as a RequestError or a CusprunError and becomes an error body.
 */
import { inspectModel } from '../../engine/arch';
import { checkRunId, Health, RequestError } from '../../core/protocol';
import {
  readChartsRequest,
  readJobRequest,
  readOpenModel,
  readPlanQuery,
  readRanksQuery,
  readRegisterCorpus
} from '../../core/protocol/validate';
import { ABLATIONS_DIR } from '../jobs/ablate';
import { SWEEPS_DIR } from '../jobs/sweep';
import { RunStore } from '../run-store';
import { describeError } from './errors';
import { Queries } from './queries';
import { JobQueue } from './queue';

export interface Reply {
  status: number;
  body: unknown;
}

/** What a handler gets: the path's parameters and the body, parsed when first asked for. */
interface Call {
  params: Record<string, string>;
  body(): unknown;
}

type Handler = (call: Call) => unknown;

/** A refusal (or a bug) as an error reply. */
export function errorReply(error: unknown): Reply {
  const { status, error: body } = describeError(error, 'a request');
  return { status, body: { error: body } };
}

export class Api {
  private readonly routes: {
    method: string;
    pattern: string[];
    handler: Handler;
    status: number;
  }[] = [];

  constructor(
    store: RunStore,
    queue: JobQueue,
    queries: Queries,
    health: () => Health
  ) {
    const run = (call: Call) => checkRunId(call.params.run);
    const add = (
      method: string,
      route: string,
      handler: Handler,
      status = 200
    ) =>
      this.routes.push({ method, pattern: route.split('/'), handler, status });
    // A job submitted is accepted, not done: 202.
    const ACCEPTED = 202;

    add('GET', '/api/health', health);
    add('POST', '/api/models/open', call =>
      inspectModel(readOpenModel(call.body()).model)
    );
    add('GET', '/api/corpora', () => store.corpora());
    add('POST', '/api/corpora', call =>
      store.registerCorpus(readRegisterCorpus(call.body()))
    );
    add('GET', '/api/runs', () => store.list());
    add('GET', '/api/runs/:run', call => store.detail(run(call)));
    add(
      'GET',
      `/api/runs/:run/${SWEEPS_DIR}/:file`,
      call => store.record(run(call), SWEEPS_DIR, call.params.file).record
    );
    add(
      'GET',
      `/api/runs/:run/${ABLATIONS_DIR}/:file`,
      call => store.record(run(call), ABLATIONS_DIR, call.params.file).record
    );
    add('POST', '/api/runs/:run/sigma', call =>
      queries.sigma(run(call), readPlanQuery(call.body()))
    );
    add('POST', '/api/runs/:run/ranks', call =>
      queries.ranks(run(call), readRanksQuery(call.body()))
    );
    add('POST', '/api/runs/:run/charts', call =>
      queries.charts(run(call), readChartsRequest(call.body()))
    );
    add(
      'POST',
      '/api/runs/:run/resume',
      call => queue.resume(run(call)),
      ACCEPTED
    );
    add('GET', '/api/jobs', () => queue.list());
    add(
      'POST',
      '/api/jobs',
      call => queue.submit(readJobRequest(call.body())),
      ACCEPTED
    );
    add('GET', '/api/jobs/:job', call => queue.get(call.params.job));
    add('DELETE', '/api/jobs/:job', call => queue.cancel(call.params.job));
  }

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
        .map(route => ({ route, params: match(route.pattern, segments) }))
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
      const answer = await found.route.handler({
        params: found.params as Record<string, string>,
        body
      });
      return { status: found.route.status, body: answer };
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
