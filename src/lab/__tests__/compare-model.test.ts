import * as fs from 'fs';
import * as path from 'path';
import type { RunDetail, SigmaAnswer, SweepRecord } from '../../core/protocol';
import {
  CompareRow,
  ComparedSigma,
  ComparedSweep,
  compareRuns,
  CompareSide,
  Comparison,
  formatBytes,
  MISSING,
  nearestPoint
} from '../compare-model';
import { untranslated } from '../sweep-model';
import { formatMetric } from '../../core/format';

/*
 * Fixtures from a real run: the demo's (`make demo`, .cusprun/demo-de-computing-qa) as the
 * sidecar's RunStore.detail and Queries.sigma answer it, with a sweep of that run at σ 0.3, 0.5,
 * 0.7, 0.9 (`cusprun sweep --sigma 0.3,0.5,0.7,0.9 --methods cus-prun`, three eval sets).
 * Trimmed to stay small: 4 documents per dimension kept (and `scored`/`documents` set to
 * match), the last 2 prunes, no jobs, and no histogram or ratio curve in the σ answers or the
 * sweep (this module reads neither).
 */
const FIXTURES = path.join(__dirname, 'fixtures');

function fixture<T>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8')) as T;
}

// The fixtures are the protocol's own types, trimmed of what this module does not read.
type Trimmed<T, K extends keyof T> = Omit<T, K>;
const runDetail = fixture<RunDetail>('compare-run-detail.json');
const detail: RunDetail = runDetail;
const sweepFile = fixture<{
  file: string;
  record: Trimmed<SweepRecord, 'ratios'>;
}>('compare-sweep.json');
const sweep: ComparedSweep = sweepFile.record;
const sigmas =
  fixture<Record<'0.5' | '0.9', Trimmed<SigmaAnswer, 'histogram' | 'ratios'>>>(
    'compare-sigma.json'
  );
const sigma05: ComparedSigma = sigmas['0.5'];
const sigma09: ComparedSigma = sigmas['0.9'];

const trans = untranslated;

function clone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

function side(overrides: Partial<CompareSide> = {}): CompareSide {
  return {
    run: clone(detail),
    sigma: clone(sigma05),
    sweep: clone(sweep),
    ...overrides
  };
}

function rows(c: Comparison): CompareRow[] {
  return c.sections.flatMap(s => s.rows);
}

function rowOf(c: Comparison, label: string): CompareRow {
  const found = rows(c).find(r => r.label === label);
  if (!found) {
    throw new Error(`no row ${label}`);
  }
  return found;
}

function differing(c: Comparison): string[] {
  return rows(c)
    .filter(r => r.differs)
    .map(r => r.label);
}

describe('the fixtures', () => {
  it('are the real run and sweep the comparison reads', () => {
    expect(detail.id).toBe('demo-de-computing-qa');
    expect(runDetail.sweeps).toContain(sweepFile.file.replace('sweeps/', ''));
    expect(sweep.points.map(p => p.sigma)).toEqual([0.3, 0.5, 0.7, 0.9]);
    expect(sigma05.plan.sigma).toBe(0.5);
  });
});

describe('compareRuns', () => {
  it('finds no difference between a run and itself, in every section', () => {
    const c = compareRuns([side(), side()], trans);
    expect(c.sections.map(s => s.id)).toEqual(['config', 'ratios', 'metrics']);
    expect(c.sections.map(s => s.title)).toEqual([
      'Config',
      'Ratios at σ',
      'Metrics (latest sweep)'
    ]);
    expect(differing(c)).toEqual([]);
    expect(c.differing).toBe(0);
    for (const r of rows(c)) {
      expect(r.cells[0]).toBe(r.cells[1]);
      expect(r.cells[0]).not.toBe(MISSING);
    }
  });

  it('shows the config a researcher needs to reproduce the run', () => {
    const c = compareRuns([side(), side()], trans);
    const config = c.sections[0].rows;
    expect(Object.fromEntries(config.map(r => [r.label, r.cells[0]]))).toEqual({
      Model: '/work/main/demo/model/model.onnx (llama)',
      'Model SHA-256': 'a8a55863a8da',
      'Corpus manifest': '/work/main/demo/expert-de-computing-qa.yaml',
      'Corpus SHA-256': '25c4f434cde8',
      Dimensions: 'language: de · domain: computing · task: qa',
      'Documents per dimension':
        '32 requested (language 4 · domain 4 · task 4)',
      Truncation: '128 tokens',
      Seed: '0',
      'Score form': 'paper',
      'Documents scored': '12/12',
      'cusprun version': '0.1.0',
      'onnxruntime version': '1.30.0',
      Prunes: '2',
      'Latest prune: ratio': '25.28% at σ 0.9023',
      'Latest prune: size': '11.2 MiB → 10.4 MiB'
    });
  });

  it('marks exactly the rows of a different truncation and seed', () => {
    const b = side();
    b.run.record.corpus.truncation = 256;
    b.run.record.corpus.seed = 7;
    const c = compareRuns([side(), b], trans);
    expect(differing(c)).toEqual(['Truncation', 'Seed']);
    expect(c.differing).toBe(2);
    expect(rowOf(c, 'Truncation')).toEqual({
      label: 'Truncation',
      cells: ['128 tokens', '256 tokens'],
      differs: true
    });
    expect(rowOf(c, 'Seed')).toMatchObject({ cells: ['0', '7'] });
  });

  it('puts up to four runs side by side, a row differing when any run does', () => {
    const d = side();
    d.run.record.corpus.seed = 7;
    const c = compareRuns([side(), side(), side(), d], trans);
    expect(differing(c)).toEqual(['Seed']);
    expect(rowOf(c, 'Seed').cells).toEqual(['0', '0', '0', '7']);
    expect(rowOf(c, 'Truncation')).toMatchObject({
      cells: ['128 tokens', '128 tokens', '128 tokens', '128 tokens'],
      differs: false
    });
  });

  it('shows "-" where one run has no sweep, and those rows differ', () => {
    const c = compareRuns([side(), side({ sweep: null })], trans);
    const metrics = c.sections.find(s => s.id === 'metrics');
    expect(metrics).toBeDefined();
    for (const r of metrics!.rows) {
      expect(r.cells[0]).not.toBe(MISSING);
      expect(r.cells[1]).toBe(MISSING);
      expect(r.differs).toBe(true);
    }
    expect(rowOf(c, 'expert · perplexity (dense)')).toEqual({
      label: 'expert · perplexity (dense)',
      cells: ['28.04', MISSING],
      differs: true
    });
    // Config and ratios are unaffected.
    expect(
      c.sections.filter(s => s.id !== 'metrics').flatMap(s => s.rows)
    ).toEqual(
      expect.not.arrayContaining([expect.objectContaining({ differs: true })])
    );
  });

  it('leaves out the sections neither run has data for', () => {
    const c = compareRuns(
      [
        side({ sigma: undefined, sweep: undefined }),
        side({ sigma: null, sweep: null })
      ],
      trans
    );
    expect(c.sections.map(s => s.id)).toEqual(['config']);
  });

  it('shows "-" for the latest prune of a run that was never pruned', () => {
    const b = side();
    b.run.record.prunes = [];
    const c = compareRuns([side(), b], trans);
    expect(differing(c)).toEqual([
      'Prunes',
      'Latest prune: ratio',
      'Latest prune: size'
    ]);
    expect(rowOf(c, 'Latest prune: size').cells[1]).toBe(MISSING);
  });

  it('picks the Cus-Prun point nearest each run’s ratio at σ', () => {
    // σ 0.5: ratio 8.09%, the sweep's σ 0.5 point; σ 0.9: 24.6%, its σ 0.9 point.
    const c = compareRuns([side(), side({ sigma: clone(sigma09) })], trans);
    expect(rowOf(c, 'σ')).toMatchObject({ cells: ['0.5000', '0.9000'] });
    expect(rowOf(c, 'Ratio (prunable parameters)')).toMatchObject({
      cells: ['8.09%', '24.63%']
    });
    expect(rowOf(c, 'Cus-Prun point nearest the ratio')).toMatchObject({
      cells: ['ratio 8.09% at σ 0.5000', 'ratio 24.63% at σ 0.9000'],
      differs: true
    });
    const at = (s: number) => sweep.points.find(p => p.sigma === s)!;
    const ppl = (s: number) =>
      at(s).metrics.find(
        m => m.evalSet === 'expert' && m.metric === 'perplexity'
      )!.value;
    expect(rowOf(c, 'expert · perplexity (Cus-Prun)')).toMatchObject({
      cells: [
        formatMetric('perplexity', ppl(0.5)),
        formatMetric('perplexity', ppl(0.9))
      ],
      differs: true
    });
    expect(rowOf(c, 'expert · perplexity (Cus-Prun)').cells[0]).toBe('30.12');
    expect(rowOf(c, 'expert · perplexity (Cus-Prun)').cells[1]).toBe('33.28');
    // The dense model is the same in both.
    expect(rowOf(c, 'expert · perplexity (dense)')).toMatchObject({
      cells: ['28.04', '28.04'],
      differs: false
    });
  });

  it('moves to the next point once the ratio is nearer to it', () => {
    // 8.09% (σ 0.5) and 10.34% (σ 0.7) lie 2.25 points apart: 9.5% is nearer σ 0.7.
    const nearer = clone(sigma05);
    nearer.plan.ratio = 0.095;
    const c = compareRuns([side(), side({ sigma: nearer })], trans);
    expect(rowOf(c, 'Cus-Prun point nearest the ratio')).toMatchObject({
      cells: ['ratio 8.09% at σ 0.5000', 'ratio 10.34% at σ 0.7000']
    });
    expect(nearestPoint(sweep, 0.09)?.sigma).toBe(0.5);
    expect(nearestPoint(sweep, 0.095)?.sigma).toBe(0.7);
    expect(nearestPoint(sweep, 0)?.sigma).toBe(0.3);
    expect(nearestPoint(sweep, 1)?.sigma).toBe(0.9);
  });

  it('uses the other run’s ratio for a run without a σ view', () => {
    const c = compareRuns(
      [side({ sigma: clone(sigma09) }), side({ sigma: null })],
      trans
    );
    expect(rowOf(c, 'σ')).toMatchObject({ cells: ['0.9000', MISSING] });
    expect(rowOf(c, 'Cus-Prun point nearest the ratio')).toMatchObject({
      cells: ['ratio 24.63% at σ 0.9000', 'ratio 24.63% at σ 0.9000'],
      differs: false
    });
  });

  it('shows FFN channels and attention groups removed from the σ view', () => {
    const c = compareRuns([side(), side({ sigma: clone(sigma09) })], trans);
    const count = (s: ComparedSigma, kind: string) =>
      s.layers.filter(l => l.kind === kind).reduce((n, l) => n + l.pruned, 0);
    expect(rowOf(c, 'FFN channels removed').cells[0]).toBe(
      `${((100 * count(sigma05, 'ffn')) / 1536).toFixed(2)}% (${count(sigma05, 'ffn')}/1536)`
    );
    expect(rowOf(c, 'Attention groups removed').cells[1]).toMatch(
      new RegExp(`\\(${count(sigma09, 'attention')}/12\\)$`)
    );
  });

  it('lists a metric only one sweep has, with "-" on the other side', () => {
    const b = side();
    b.sweep!.dense = b.sweep!.dense.filter(m => m.evalSet !== 'de');
    for (const p of b.sweep!.points) {
      p.metrics = p.metrics.filter(m => m.evalSet !== 'de');
    }
    b.sweep!.evalSets = b.sweep!.evalSets.filter(e => e.name !== 'de');
    const c = compareRuns([side(), b], trans);
    expect(differing(c)).toEqual([
      'Eval set de',
      'de · perplexity (dense)',
      'de · perplexity (Cus-Prun)'
    ]);
    expect(rowOf(c, 'de · perplexity (dense)').cells[1]).toBe(MISSING);
  });
});

describe('formatting', () => {
  it('writes metrics as the CLI does: perplexity with 2 decimals, accuracies with 3', () => {
    expect(formatMetric('perplexity', 28.039686995299274)).toBe('28.04');
    expect(formatMetric('perplexity', 895202.8912)).toBe('895202.89');
    expect(formatMetric('accuracy', 0.19)).toBe('0.190');
    expect(formatMetric('accuracy_norm', 0.58333)).toBe('0.583');
    expect(formatMetric('accuracy', 0)).toBe('0.000');
    expect(formatMetric('perplexity', Infinity)).toBe('∞');
    expect(formatMetric('perplexity', NaN)).toBe('NaN');
  });

  it('writes sizes in binary units', () => {
    expect(formatBytes(11772851)).toBe('11.2 MiB');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2048)).toBe('2.00 KiB');
  });
});
