import { planCharts } from '../../core/charts';
import { formatPlan } from '../format/plan';
import { writeCharts } from '../format/experiment';
import { runPlanJob } from '../jobs/plan';
import { positionalCount } from './args';
import { defineCommand } from './command';
import { PLAN_OPTIONS, planOptions } from './shared-options';

export default defineCommand({
  name: 'plan',
  synopsis: 'plan --run RUN_DIR (--sigma S | --target-ratio R) [options]',
  summary: 'the units an expert on the requested dimensions loses, per layer',
  options: {
    ...PLAN_OPTIONS,
    json: { type: 'boolean', help: 'print the plan as JSON' },
    charts: {
      type: 'string',
      value: 'DIR',
      help: 'write its charts there (Vega-Lite + SVG)'
    }
  },
  run: async ({ values, positionals }) => {
    positionalCount(
      'plan',
      positionals,
      { min: 0, max: 0 },
      'no positional arguments'
    );
    const view = runPlanJob(planOptions(values));
    const charts = values.charts
      ? await writeCharts(values.charts, planCharts(view))
      : [];
    // --json keeps stdout pure JSON for scripts; the chart files are listed on stderr.
    charts.forEach(c => process.stderr.write(`wrote ${c}\n`));
    return values.json
      ? `${JSON.stringify(view.plan, null, 2)}\n`
      : formatPlan(view.plan);
  }
});
