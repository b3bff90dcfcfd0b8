/**
 * One selection everywhere: a run scored by the CLI, then its plan at five σ with the relaxed rule
 * and both guards asked of every part a user meets — `cusprun plan --json`, the sidecar's σ query,
 * the `%cusprun plan` magic (in IPython, against that sidecar) and the lab's slider model fed the
 * magic's σ-sweep output. Every part must count the same units per layer and the same ratio, with
 * attention groups kept (--keep-attention) too. And under each rule the dashboard's σ view offers, its ranks request and slider count what
 * `cusprun plan --rule R` counts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { groupCountsOfPlan, type GroupCount } from '../../core/charts/types';
import { formatRatio, formatSigma } from '../../core/format';
import type {
  PlanResult,
  RanksAnswer,
  SigmaAnswer,
  SweepPayload
} from '../../core/protocol';
import { DEFAULT_RULE, ruleLabel } from '../../core/select';
import {
  spawnSidecar,
  SidecarProcess
} from '../../sidecar/__tests__/sidecar-client';
import { ruleQuery } from '../panel-model';
import { binOf, initialSubset, ruleChoices, viewAt } from '../sweep-model';

const ROOT = path.resolve(__dirname, '../../..');
const CLI = path.join(ROOT, 'dist/sidecar/cli.js');
const PYTHON = path.join(ROOT, '.venv/bin/python');
const MODEL = path.join(ROOT, 'fixtures/models/qwen2/torchscript');
const CORPUS = path.join(ROOT, 'fixtures/corpora/corpus.yaml');
const TOKEN = 'one-selection-token-0123456789';
const RUN = 'guarded';
const SIGMAS = [0.3, 0.5, 0.7, 0.85, 0.95];
const SETTINGS = { q: 0.9, minKeep: 4, multipleOf: 8 };
const FLAGS = `--q ${SETTINGS.q} --min-keep ${SETTINGS.minKeep} --multiple-of ${SETTINGS.multipleOf}`;

/** What every part must agree on: the units pruned per layer and kind, and the ratio. */
interface Counted {
  ratio: number;
  layers: string[];
}

function counted(ratio: number, layers: GroupCount[]): Counted {
  return {
    ratio,
    layers: layers
      .map(l => `${l.layer} ${l.kind} ${l.pruned}/${l.units}`)
      .sort()
  };
}

function cli(...args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`cusprun ${args.join(' ')} failed: ${r.stderr}`);
  }
  return r.stdout;
}

function fromCli(
  store: string,
  sigma: number,
  flags = FLAGS.split(' ')
): Counted {
  const plan = JSON.parse(
    cli(
      'plan',
      '--run',
      path.join(store, RUN),
      '--sigma',
      String(sigma),
      ...flags,
      '--json'
    )
  ) as PlanResult['plan'];
  return counted(plan.ratio, groupCountsOfPlan(plan));
}

/** `%cusprun plan` at each σ in IPython, against the test's sidecar: the σ-sweep outputs. */
const MAGIC = `
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shown = []
shell.display_pub.publish = lambda data, metadata=None, **kw: shown.append(data)
shell.run_line_magic("load_ext", "cusprun")
payloads = []
for sigma in json.loads(sys.argv[1]):
    shown.clear()
    shell.run_line_magic("cusprun", f"plan --run ${RUN} --sigma {sigma} {sys.argv[2]}")
    payloads.append(next(d["application/vnd.cusprun.sweep+json"] for d in shown
                         if "application/vnd.cusprun.sweep+json" in d))
print("PAYLOADS " + json.dumps(payloads))
`;

/** The magic's outputs with `flags`: the line it printed for each σ, and its σ-sweep output. */
function runMagic(
  sidecar: SidecarProcess,
  flags: string
): {
  lines: string[];
  payloads: SweepPayload[];
} {
  if (!fs.existsSync(PYTHON)) {
    throw new Error(`${PYTHON} is missing: run 'make setup' first`);
  }
  const r = spawnSync(PYTHON, ['-c', MAGIC, JSON.stringify(SIGMAS), flags], {
    encoding: 'utf8',
    env: {
      ...process.env,
      PYTHONPATH: path.join(ROOT, 'kernel-bridge'),
      CUSPRUN_SIDECAR_URL: `http://${sidecar.ready.host}:${sidecar.ready.port}`,
      CUSPRUN_SIDECAR_TOKEN: TOKEN
    }
  });
  if (r.status !== 0) {
    throw new Error(`the magic failed: ${r.stderr}`);
  }
  const lines = r.stdout.trim().split('\n');
  const last = lines.pop() ?? '';
  return {
    lines,
    payloads: JSON.parse(last.replace(/^PAYLOADS /, '')) as SweepPayload[]
  };
}

describe('one selection in the CLI, the sidecar, the magic and the lab', () => {
  let store: string;
  let sidecar: SidecarProcess;

  beforeAll(async () => {
    store = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-one-selection-'));
    cli('score', MODEL, '--corpus', CORPUS, '--run', path.join(store, RUN));
    sidecar = await spawnSidecar(CLI, ['--store', store], { token: TOKEN });
  }, 120_000);

  afterAll(async () => {
    sidecar?.child.kill();
    await sidecar?.exited;
    fs.rmSync(store, { recursive: true, force: true });
  });

  /**
   * Every part's counts at each σ with `flags` (`settings` in the sidecar's JSON), checked equal
   * to the CLI's; the distinct counts seen.
   */
  async function agreeing(
    flags: string,
    settings: Record<string, string | number | boolean>
  ): Promise<Counted[]> {
    const magic = runMagic(sidecar, flags);
    const seen = new Set<string>();
    for (const [i, sigma] of SIGMAS.entries()) {
      const expected = fromCli(store, sigma, flags.split(' '));
      seen.add(JSON.stringify(expected));

      const answer = await sidecar.client.request<SigmaAnswer>(
        'POST',
        `/api/runs/${RUN}/sigma`,
        { sigma, ...settings }
      );
      expect(answer.status).toBe(200);
      expect(counted(answer.body.plan.ratio, answer.body.layers)).toEqual(
        expected
      );

      const payload = magic.payloads[i];
      expect(payload.sigma).toBe(sigma);
      expect(magic.lines[i]).toContain(
        `σ = ${formatSigma(sigma)}: ratio ${formatRatio(expected.ratio)} of prunable`
      );
      expect(counted(answer.body.plan.ratio, payload.layers)).toEqual(expected);

      const subset = initialSubset(payload);
      const slider = viewAt(subset, binOf(sigma, subset.bins));
      expect(slider.sigma).toBe(sigma);
      expect(counted(slider.ratio, slider.layers)).toEqual(expected);
    }
    return [...seen].map(s => JSON.parse(s) as Counted);
  }

  /** Each line's pruned and total units: `LAYER KIND PRUNED/UNITS`. */
  const units = (line: string) => line.split(' ')[2].split('/').map(Number);

  it(`counts the same units and ratio at σ ${SIGMAS.join(', ')} with ${FLAGS}`, async () => {
    const seen = await agreeing(FLAGS, SETTINGS);
    // The guards show: every group keeps at least 4 units and a multiple of 8 (or all of them),
    // and the five σ differ in what they prune.
    for (const counts of seen) {
      for (const line of counts.layers) {
        const [pruned, all] = units(line);
        const kept = all - pruned;
        expect(kept).toBeGreaterThanOrEqual(Math.min(all, SETTINGS.minKeep));
        expect(kept === all || kept % SETTINGS.multipleOf === 0).toBe(true);
      }
    }
    expect(seen.length).toBeGreaterThan(2);
  }, 120_000);

  it(`keeps every attention group in every part with --keep-attention`, async () => {
    const attention = (counts: Counted[]) =>
      counts.flatMap(c => c.layers.filter(l => l.includes(' attention ')));
    const pruning = await agreeing('--rule rank-mean', {
      rule: 'rank-mean'
    });
    // Without the guard these σ take attention groups, so keeping them is seen.
    expect(attention(pruning).some(l => units(l)[0] > 0)).toBe(true);
    const keeping = await agreeing('--rule rank-mean --keep-attention', {
      rule: 'rank-mean',
      keepAttention: true
    });
    expect(attention(keeping).every(l => units(l)[0] === 0)).toBe(true);
    expect(keeping.length).toBeGreaterThan(2);
  }, 120_000);

  const RULE_SIGMAS = [0.3, 0.5, 0.9];
  it(`counts under each rule of the σ view what plan --rule counts, at σ ${RULE_SIGMAS.join(', ')}`, async () => {
    const ratios = new Map<string, number[]>();
    for (const rule of ruleChoices({ rule: DEFAULT_RULE, q: 1 })) {
      // the body the dashboard posts for the run's full dimension set under this rule
      const ranks = await sidecar.client.request<RanksAnswer>(
        'POST',
        `/api/runs/${RUN}/ranks`,
        ruleQuery(rule)
      );
      expect(ranks.status).toBe(200);
      for (const sigma of RULE_SIGMAS) {
        const expected = fromCli(store, sigma, ['--rule', rule.rule]);
        const slider = viewAt(ranks.body, binOf(sigma, ranks.body.bins));
        expect(slider.rule).toEqual(rule);
        expect(counted(slider.ratio, slider.layers)).toEqual(expected);
        ratios.set(ruleLabel(rule), [
          ...(ratios.get(ruleLabel(rule)) ?? []),
          slider.ratio
        ]);
      }
    }
    // the rules differ in what they prune: a view under one cannot pass for another
    expect(new Set([...ratios.values()].map(r => r.join())).size).toBe(
      ratios.size
    );
  }, 120_000);
});
