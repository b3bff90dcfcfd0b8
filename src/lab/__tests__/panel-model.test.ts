import { PROTOCOL_VERSION, RunSummary } from '../../core/protocol';
import type { RuleSettings } from '../../core/select';
import {
  filterRows,
  interpretHandshake,
  nextSort,
  expertOutPath,
  payloadFromRanks,
  planCellSource,
  readEvalSets,
  ruleQuery,
  runRow,
  sortRows,
  subsetsToRank
} from '../panel-model';
import {
  payloadProblem,
  SweepSubset,
  sweepView,
  untranslated
} from '../sweep-model';

const trans = untranslated;

function summary(
  id: string,
  updated: string,
  scored: number,
  documents = 24,
  dims = ['language', 'domain', 'task']
): RunSummary {
  return {
    id,
    created: updated,
    updated,
    model: {
      file: `/m/${id}/model.onnx`,
      sha256: 'f'.repeat(64),
      family: 'llama'
    },
    corpus: {
      manifest: `/c/${id}.yaml`,
      sha256: 'c'.repeat(64),
      dimensions: dims
    },
    scored,
    documents
  };
}

describe('the version handshake', () => {
  it('says how to install the server extension on a 404', () => {
    const h = interpretHandshake(404, null, trans);
    expect(h.kind).toBe('missing');
    expect(h.retry).toBe(false);
    expect(h.message).toMatch(/server extension is not running/);
    expect(h.message).toMatch(/pip install/);
  });

  it('tells a protocol mismatch apart, with what to do', () => {
    const h = interpretHandshake(
      200,
      {
        version: '9.0.0',
        protocol: PROTOCOL_VERSION + 1,
        sidecar: { state: 'running' }
      },
      trans
    );
    expect(h.kind).toBe('mismatch');
    expect(h.retry).toBe(false);
    expect(h.message).toContain(`protocol ${PROTOCOL_VERSION + 1}`);
    expect(h.message).toMatch(/restart JupyterLab/);
  });

  it('waits for a starting or restarting sidecar and retries', () => {
    for (const state of ['starting', 'restarting'] as const) {
      const h = interpretHandshake(
        200,
        { version: '0.1.0', protocol: PROTOCOL_VERSION, sidecar: { state } },
        trans
      );
      expect(h).toMatchObject({ kind: 'waiting', retry: true });
      expect(h.message).toContain(state);
    }
  });

  it('shows the version once the sidecar runs', () => {
    const h = interpretHandshake(
      200,
      {
        version: '0.1.0',
        protocol: PROTOCOL_VERSION,
        sidecar: { state: 'running', store: '/srv/work/.cusprun' }
      },
      trans
    );
    expect(h).toMatchObject({
      kind: 'running',
      retry: false,
      store: '/srv/work/.cusprun'
    });
    expect(h.message).toBe('Sidecar: running · cusprun 0.1.0');
  });

  it('keeps retrying a failed sidecar, an unreachable server and odd answers', () => {
    const failed = interpretHandshake(
      200,
      {
        version: '0.1.0',
        protocol: PROTOCOL_VERSION,
        sidecar: { state: 'failed', message: 'exit 1' }
      },
      trans
    );
    expect(failed).toMatchObject({ kind: 'down', retry: true });
    expect(failed.message).toContain('exit 1');
    expect(interpretHandshake(0, null, trans)).toMatchObject({
      kind: 'error',
      retry: true
    });
    expect(interpretHandshake(500, 'boom', trans)).toMatchObject({
      kind: 'error',
      retry: true
    });
  });
});

describe('the run table', () => {
  const rows = [
    summary('b-run', '2026-11-02T00:00:00Z', 24),
    summary('a-run', '2026-11-03T00:00:00Z', 6),
    {
      ...summary('c-run', '2026-11-01T00:00:00Z', 12, 24, ['medical']),
      lastJob: {
        id: 'j1',
        type: 'score',
        state: 'running',
        at: '2026-10-31T00:00:00Z',
        origin: 'sidecar'
      } as const
    }
  ].map(runRow);

  it('shows each run in the columns it lists', () => {
    expect(rows[2]).toMatchObject({
      id: 'c-run',
      model: 'c-run/model.onnx (llama)',
      dimensions: 'medical',
      progress: '12/24',
      lastJob: 'score running'
    });
    expect(rows[0].lastJob).toBe('');
  });

  it("shows the CLI's jobs too, and the time of the latest job when it is later", () => {
    const row = runRow({
      ...summary('d-run', '2026-11-01T00:00:00Z', 24),
      lastJob: {
        type: 'prune',
        state: 'done',
        at: '2026-11-04T00:00:00Z',
        origin: 'cli'
      }
    });
    expect(row.lastJob).toBe('prune done (CLI)');
    expect(row.updated).toBe('2026-11-04T00:00:00Z');
    expect(rows[2].updated).toBe('2026-11-01T00:00:00Z');
  });

  it('sorts by a column, and a second click flips it', () => {
    let sort = nextSort({ key: 'updated', ascending: false }, 'id');
    expect(sort).toEqual({ key: 'id', ascending: true });
    expect(sortRows(rows, sort).map(r => r.id)).toEqual([
      'a-run',
      'b-run',
      'c-run'
    ]);
    sort = nextSort(sort, 'id');
    expect(sortRows(rows, sort).map(r => r.id)).toEqual([
      'c-run',
      'b-run',
      'a-run'
    ]);
    expect(
      sortRows(rows, { key: 'updated', ascending: false }).map(r => r.id)
    ).toEqual(['a-run', 'b-run', 'c-run']);
  });

  it('sorts the scored column by the share scored, not as text', () => {
    expect(
      sortRows(rows, { key: 'progress', ascending: true }).map(r => r.id)
    ).toEqual(['a-run', 'c-run', 'b-run']);
  });

  it('filters on every word, case-insensitively, across the columns', () => {
    expect(filterRows(rows, '').length).toBe(3);
    expect(filterRows(rows, 'MEDICAL').map(r => r.id)).toEqual(['c-run']);
    expect(filterRows(rows, 'run language').map(r => r.id)).toEqual([
      'b-run',
      'a-run'
    ]);
    expect(filterRows(rows, 'nothing-like-this')).toEqual([]);
  });
});

describe('the ranks the panel asks for', () => {
  it('asks for every subset of a few dimensions, the full set first', () => {
    const subsets = subsetsToRank(['a', 'b', 'c']);
    expect(subsets.length).toBe(7);
    expect(subsets[0]).toEqual(['a', 'b', 'c']);
    expect(subsets.slice(-3).every(s => s.length === 1)).toBe(true);
    expect(new Set(subsets.map(s => s.join('+'))).size).toBe(7);
  });

  it('asks only for the full set of many dimensions', () => {
    expect(subsetsToRank(['a', 'b', 'c', 'd', 'e'])).toEqual([
      ['a', 'b', 'c', 'd', 'e']
    ]);
    expect(subsetsToRank([])).toEqual([]);
  });

  it('builds a σ-sweep payload the in-cell model accepts', () => {
    const ranks: SweepSubset = {
      dimensions: ['a'],
      q: 1,
      minKeep: 1,
      multipleOf: 1,
      bins: 4,
      prunableParams: 40,
      groups: [
        {
          layer: 0,
          kind: 'ffn',
          units: 4,
          paramsPerUnit: 10,
          cumulative: [0, 1, 2, 3, 4]
        }
      ]
    };
    const payload = payloadFromRanks('r', [ranks]);
    expect(payloadProblem(payload)).toBeNull();
    const view = sweepView(payload, ['a'], 0.5);
    expect(view.ratio).toBeCloseTo(0.5);
    // the guard keeps one unit at σ = 1
    expect(sweepView(payload, ['a'], 1).layers[0].pruned).toBe(3);
    expect(() => payloadFromRanks('r', [])).toThrow(/no ranks/);
  });
});

describe('what the panel writes for a view', () => {
  it('inserts the magic that displays the same outputs', () => {
    expect(planCellSource('demo-run', { sigma: 0.505 })).toBe(
      '%cusprun plan --run demo-run --sigma 0.505'
    );
    expect(
      planCellSource('r1', { sigma: 0.9, dims: ['language', 'task'] })
    ).toBe('%cusprun plan --run r1 --sigma 0.9 --dims language,task');
    // σ from the slider's grid is written without float noise
    expect(planCellSource('r', { sigma: 0.1 + 0.2 })).toBe(
      '%cusprun plan --run r --sigma 0.3'
    );
  });

  it('names the rule of a view only when it is not the default', () => {
    const under = (rule: RuleSettings) => ({ sigma: 0.92, ...ruleQuery(rule) });
    expect(planCellSource('r', under({ rule: 'rank-mean', q: 1 }))).toBe(
      '%cusprun plan --run r --sigma 0.92'
    );
    expect(planCellSource('r', under({ rule: 'paper', q: 1 }))).toBe(
      '%cusprun plan --run r --sigma 0.92 --rule paper'
    );
    expect(
      planCellSource('r', { ...under({ rule: 'q', q: 0.75 }), dims: ['a'] })
    ).toBe('%cusprun plan --run r --sigma 0.92 --dims a --rule q --q 0.75');
    expect(expertOutPath('r', under({ rule: 'pooled-intersect', q: 1 }))).toBe(
      'experts/r-sigma0.92-pooled-intersect.onnx'
    );
    expect(expertOutPath('r', under({ rule: 'q', q: 0.75 }))).toBe(
      'experts/r-sigma0.92-q0.75.onnx'
    );
  });

  it('proposes an expert file under experts/, named by the view', () => {
    expect(expertOutPath('demo-run', { sigma: 0.5 })).toBe(
      'experts/demo-run-sigma0.5.onnx'
    );
    expect(
      expertOutPath('r', { sigma: 0.75, dims: ['language', 'domain'] })
    ).toBe('experts/r-sigma0.75-language+domain.onnx');
  });

  it('reads the evaluation sets of a comma-separated field', () => {
    expect(readEvalSets(' a.jsonl, expert=b.jsonl ,, ')).toEqual([
      'a.jsonl',
      'expert=b.jsonl'
    ]);
    expect(readEvalSets('  ')).toEqual([]);
  });
});
