/**
 * The experiment tracker's comparison table: two runs side by side (compare-model.ts), one
 * `<tbody>` per section, rows where the runs differ marked `jp-mod-differs`. Plain DOM, so the
 * panel can put it anywhere; styles in style/compare.css.
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
 * row label, run A, run B (headed by `labels`, e.g. the run ids).
 */
export function renderComparison(
  host: HTMLElement,
  comparison: Comparison,
  labels: { a: string; b: string },
  trans: Translate
): HTMLTableElement {
  const table = document.createElement('table');
  table.className = COMPARE_CLASS;

  const caption = document.createElement('caption');
  caption.className = `${COMPARE_CLASS}-caption`;
  caption.textContent =
    comparison.differing === 0
      ? trans.__('%1 and %2: no differences', labels.a, labels.b)
      : trans.__(
          '%1 and %2: %3 rows differ (marked)',
          labels.a,
          labels.b,
          String(comparison.differing)
        );
  table.appendChild(caption);

  const head = document.createElement('thead');
  const headRow = document.createElement('tr');
  headRow.append(
    cell('td', '', { class: `${COMPARE_CLASS}-corner` }),
    cell('th', labels.a, { scope: 'col', title: labels.a }),
    cell('th', labels.b, { scope: 'col', title: labels.b })
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
        colspan: '3',
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
      tr.append(label, cell('td', r.a), cell('td', r.b));
      body.appendChild(tr);
    }
    table.appendChild(body);
  }

  host.replaceChildren(table);
  return table;
}
