/**
 * Every endpoint of the sidecar in one table: method, path, what answers it (the run store, the
 * job queue, the cached queries) and its status. HTTP and WebSocket `request` messages both go
 * through it (api.ts), so the two answer alike.
 */
import { inspectModel } from '../../engine/arch';
import { checkRunId, Health } from '../../core/protocol';
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
import { Queries } from './queries';
import { JobQueue } from './queue';

/** What answers requests: the sidecar's parts, made once by `serve`. */
export interface Services {
  store: RunStore;
  queue: JobQueue;
  queries: Queries;
  health: () => Health;
}

/** What a handler gets: the path's parameters and the body, parsed when first asked for. */
export interface Call {
  params: Record<string, string>;
  body(): unknown;
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  answer: (services: Services, call: Call) => unknown;
  /** 202 for a job submitted (accepted, not done); 200 otherwise. */
  status?: number;
}

const run = (call: Call) => checkRunId(call.params.run);
const ACCEPTED = 202;

export const ROUTES: Route[] = [
  { method: 'GET', path: '/api/health', answer: s => s.health() },
  {
    method: 'POST',
    path: '/api/models/open',
    answer: (_, c) => inspectModel(readOpenModel(c.body()).model)
  },
  { method: 'GET', path: '/api/corpora', answer: s => s.store.corpora() },
  {
    method: 'POST',
    path: '/api/corpora',
    answer: (s, c) => s.store.registerCorpus(readRegisterCorpus(c.body()))
  },
  { method: 'GET', path: '/api/runs', answer: s => s.store.list() },
  {
    method: 'GET',
    path: '/api/runs/:run',
    answer: (s, c) => s.store.detail(run(c))
  },
  {
    method: 'GET',
    path: `/api/runs/:run/${SWEEPS_DIR}/:file`,
    answer: (s, c) => s.store.record(run(c), SWEEPS_DIR, c.params.file).record
  },
  {
    method: 'GET',
    path: `/api/runs/:run/${ABLATIONS_DIR}/:file`,
    answer: (s, c) =>
      s.store.record(run(c), ABLATIONS_DIR, c.params.file).record
  },
  {
    method: 'POST',
    path: '/api/runs/:run/sigma',
    answer: (s, c) => s.queries.sigma(run(c), readPlanQuery(c.body()))
  },
  {
    method: 'POST',
    path: '/api/runs/:run/ranks',
    answer: (s, c) => s.queries.ranks(run(c), readRanksQuery(c.body()))
  },
  {
    method: 'POST',
    path: '/api/runs/:run/charts',
    answer: (s, c) => s.queries.charts(run(c), readChartsRequest(c.body()))
  },
  {
    method: 'POST',
    path: '/api/runs/:run/resume',
    answer: (s, c) => s.queue.resume(run(c)),
    status: ACCEPTED
  },
  { method: 'GET', path: '/api/jobs', answer: s => s.queue.list() },
  {
    method: 'POST',
    path: '/api/jobs',
    answer: (s, c) => s.queue.submit(readJobRequest(c.body())),
    status: ACCEPTED
  },
  {
    method: 'GET',
    path: '/api/jobs/:job',
    answer: (s, c) => s.queue.get(c.params.job)
  },
  {
    method: 'DELETE',
    path: '/api/jobs/:job',
    answer: (s, c) => s.queue.cancel(c.params.job)
  }
];
