/**
 * The experiment tracker's comparison table: runs side by side (compare-model.ts), one
 * `<tbody>` per section, rows where the runs differ marked `jp-mod-differs`. Plain DOM, so the
 * compare tab can put it anywhere; styles in style/compare.css.
 */
import type { Comparison } from './compare-model';
import type { Translate } from './sweep-model';

export const COMPARE_CLASS = 'jp-CusprunCompare';
export const DIFFERS_CLASS = 'jp-mod-differs';

function cell(
  tag: 'th' | 'td',
  text: string,
  attrs: Record<string, string> = {}
): HTMLTableCellElement {
  const el = document.createElement(tag);
  el.textContent = text;
  for (const [k, v] of Object.entries(attrs)) {
    el.setAttribute(k, v);
  }
  return el;
}

/**
 * Replaces `host`'s content with the comparison's table and returns the table. Columns: the
 * row label, then one per run (headed by `labels`, the run ids).
 */
export function renderComparison(
  host: HTMLElement,
  comparison: Comparison,
  labels: string[],
  trans: Translate
): HTMLTableElement {
  const table = document.createElement('table');
  table.className = COMPARE_CLASS;

  const caption = document.createElement('caption');
  caption.className = `${COMPARE_CLASS}-caption`;
  caption.textContent =
    comparison.differing === 0
      ? trans.__('%1: no differences', labels.join(' · '))
      : trans.__(
          '%1: %2 rows differ (marked)',
          labels.join(' · '),
          String(comparison.differing)
        );
  table.appendChild(caption);

  const head = document.createElement('thead');
  const headRow = document.createElement('tr');
  headRow.append(
    cell('td', '', { class: `${COMPARE_CLASS}-corner` }),
    ...labels.map(label => cell('th', label, { scope: 'col', title: label }))
  );
  head.appendChild(headRow);
  table.appendChild(head);

  for (const section of comparison.sections) {
    const body = document.createElement('tbody');
    body.className = `${COMPARE_CLASS}-section`;
    body.dataset.section = section.id;
    const titleRow = document.createElement('tr');
    titleRow.appendChild(
      cell('th', section.title, {
        scope: 'rowgroup',
        colspan: String(labels.length + 1),
        class: `${COMPARE_CLASS}-sectionTitle`
      })
    );
    body.appendChild(titleRow);
    for (const r of section.rows) {
      const tr = document.createElement('tr');
      tr.dataset.label = r.label;
      if (r.differs) {
        tr.classList.add(DIFFERS_CLASS);
      }
      const label = cell('th', r.label, { scope: 'row' });
      if (r.differs) {
        // Not by colour alone: a mark that screen readers announce too.
        const mark = document.createElement('span');
        mark.className = `${COMPARE_CLASS}-mark`;
        mark.textContent = '≠';
        mark.setAttribute('role', 'img');
        mark.setAttribute('aria-label', trans.__('differs'));
        mark.title = trans.__('The runs differ here');
        label.append(' ', mark);
      }
      tr.append(label, ...r.cells.map(text => cell('td', text)));
      body.appendChild(tr);
    }
    table.appendChild(body);
  }

  host.replaceChildren(table);
  return table;
}
