/**
 * What to do with a run from its dashboard: insert the view into a notebook, prune with it, run
 * a σ sweep against the baselines, compare the run with others (a tab of its own), and try the
 * expert. Forms stay folded until wanted.
 */
import {
  COMPENSATIONS,
  CompensationKind,
  DEFAULT_PRUNE_COMPENSATION,
  REMOVED_UNITS
} from '../core/experiment';
import { el, foldedForm, labelled } from './dom';
import { expertOutPath, readEvalSets } from './panel-model';
import { RunDashboardModel } from './run-dashboard-model';
import { CommandIDs } from './tokens';

/** Most runs `cusprun:compare-runs` puts side by side. */
export const MAX_COMPARED = 4;

function button(className: string, text: string, title: string) {
  const node = el('button', `jp-mod-styled ${className}`, text);
  node.type = 'button';
  node.title = title;
  return node;
}

/** The actions of a run's dashboard; `gridLine` shows the sweep settings (see showSettings). */
export function runActions(
  model: RunDashboardModel,
  gridLine: HTMLElement
): HTMLElement {
  const { trans, commands } = model.context;
  const insert = button(
    'jp-CusprunRun-insert',
    trans.__('Insert into notebook'),
    trans.__(
      'Insert the view as a %cusprun plan cell with its outputs below the active cell'
    )
  );
  insert.addEventListener('click', () => void model.insert());
  const tryExpert = button(
    'jp-CusprunRun-tryExpert',
    trans.__('Try the expert'),
    trans.__('Generate from the dense model and the pruned expert side by side')
  );
  tryExpert.addEventListener(
    'click',
    () => void commands.execute(CommandIDs.tryExpert, { run: model.run })
  );
  const buttons = el('div', 'jp-CusprunRun-buttons');
  buttons.append(insert, tryExpert);
  const actions = el('div', 'jp-CusprunRun-actions');
  actions.append(
    buttons,
    pruneForm(model),
    sweepForm(model, gridLine),
    compareForm(model)
  );
  return actions;
}

function pruneForm(model: RunDashboardModel): HTMLElement {
  const { trans } = model.context;
  const out = el('input', 'jp-mod-styled jp-CusprunRun-out');
  out.type = 'text';
  out.required = true;
  const compensation = compensationSelect(DEFAULT_PRUNE_COMPENSATION);
  const overwrite = el('input');
  overwrite.type = 'checkbox';
  // The default file name follows the view until the user types one.
  let edited = false;
  out.addEventListener('input', () => (edited = true));
  const follow = () => {
    const view = model.view;
    if (!edited && view) {
      out.value = expertOutPath(model.run, model.query(view));
    }
  };
  follow();
  model.viewChanged.connect(follow);
  return foldedForm({
    className: 'jp-CusprunRun-prune',
    summary: trans.__('Prune with this σ and these dimensions'),
    fields: [
      labelled(trans.__('Write the expert to'), out),
      labelled(trans.__('Removed units'), compensation),
      labelled(
        trans.__('Replace an earlier prune cusprun wrote there'),
        overwrite
      )
    ],
    submit: trans.__('Prune'),
    onSubmit: async () => {
      const view = model.view;
      if (view) {
        await model.submit({
          type: 'prune',
          ...model.query(view),
          out: out.value.trim(),
          compensation: compensation.value as CompensationKind,
          ...(overwrite.checked ? { overwrite: true } : {})
        });
      }
    }
  });
}

/** What becomes of the removed units, `selected` first chosen. */
function compensationSelect(selected: CompensationKind): HTMLSelectElement {
  const select = el('select', 'jp-mod-styled jp-CusprunRun-compensation');
  select.append(
    ...COMPENSATIONS.map(kind => {
      const option = el(
        'option',
        undefined,
        `${REMOVED_UNITS[kind]} (${kind})`
      );
      option.value = kind;
      option.selected = kind === selected;
      return option;
    })
  );
  return select;
}

function sweepForm(model: RunDashboardModel, gridLine: HTMLElement) {
  const { trans } = model.context;
  const sets = el('input', 'jp-mod-styled jp-CusprunRun-evalSets');
  sets.type = 'text';
  sets.required = true;
  sets.placeholder = trans.__('FILE or NAME=FILE, comma-separated');
  // As the CLI's sweep: zeroed unless asked; every method compensated alike.
  const compensation = compensationSelect('none');
  return foldedForm({
    className: 'jp-CusprunRun-sweepForm',
    summary: trans.__('Run a σ sweep against the baselines'),
    fields: [
      labelled(trans.__('Evaluation sets'), sets),
      labelled(trans.__('Removed units'), compensation),
      gridLine
    ],
    submit: trans.__('Sweep'),
    onSubmit: async () => {
      const view = model.view;
      const evalSets = readEvalSets(sets.value);
      if (!view || evalSets.length === 0) {
        model.say(trans.__('Give at least one evaluation set.'));
        return;
      }
      const s = model.context.settings();
      const { dims, rule, q } = model.query(view);
      await model.submit({
        type: 'sweep',
        sigmas: s.sigmaGrid,
        evalSets,
        truncation: s.truncation,
        compensation: compensation.value as CompensationKind,
        ...(s.threads > 0 ? { threads: s.threads } : {}),
        ...(dims ? { dims } : {}),
        ...(rule ? { rule } : {}),
        ...(q !== undefined ? { q } : {})
      });
    }
  });
}

/** Up to three other runs to open beside this one in a compare tab, at the σ in view. */
function compareForm(model: RunDashboardModel): HTMLElement {
  const { trans, commands } = model.context;
  const others = el('select', 'jp-mod-styled jp-CusprunRun-compareWith');
  others.multiple = true;
  const fill = () => {
    const chosen = new Set([...others.selectedOptions].map(o => o.value));
    others.replaceChildren(
      ...model.context
        .runIds()
        .filter(id => id !== model.run)
        .map(id => {
          const option = el('option', undefined, id);
          option.value = id;
          option.selected = chosen.has(id);
          return option;
        })
    );
  };
  fill();
  others.addEventListener('focus', fill);
  return foldedForm({
    className: 'jp-CusprunRun-compare',
    summary: trans.__('Compare with other runs'),
    fields: [labelled(trans.__('Compare with (up to 3)'), others)],
    submit: trans.__('Compare'),
    onSubmit: async () => {
      const chosen = [...others.selectedOptions].map(o => o.value);
      if (chosen.length > 0) {
        await commands.execute(CommandIDs.compareRuns, {
          runs: [model.run, ...chosen].slice(0, MAX_COMPARED),
          ...(model.view ? { sigma: model.view.sigma } : {})
        });
      }
    }
  });
}
