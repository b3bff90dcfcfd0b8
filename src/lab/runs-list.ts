/**
 * The side panel's runs: a filterable table sortable by any column, one row per run of the
 * store; a row opens the run's dashboard (click, Enter or Space), and the run whose dashboard
 * is current is marked selected. The row logic is in panel-model.ts.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import { el } from './dom';
import {
  filterRows,
  nextSort,
  RunRow,
  Sort,
  SORT_KEYS,
  SortKey,
  sortRows
} from './panel-model';
import { showRelativeTime } from './relative-times';

export class RunsList extends Widget {
  private readonly filterInput = el('input', 'jp-CusprunPanel-filter');
  private readonly message = el('p', 'jp-CusprunPanel-runsMessage');
  private readonly tableHead = el('tr');
  private readonly tableBody = el('tbody');
  private rows: RunRow[] = [];
  private sort: Sort = { key: 'updated', ascending: false };
  private selectedRun: string | null = null;
  private readonly _opened = new Signal<this, string>(this);
  private readonly _refreshRequested = new Signal<this, void>(this);

  constructor(private readonly trans: TranslationBundle) {
    super({ node: el('section', 'jp-CusprunPanel-runs') });
    this.filterInput.type = 'search';
    this.filterInput.placeholder = trans.__('Filter runs');
    this.filterInput.setAttribute('aria-label', trans.__('Filter runs'));
    this.filterInput.addEventListener('input', () => this.renderRows());
    const refresh = el(
      'button',
      'jp-CusprunPanel-refresh jp-mod-styled',
      trans.__('Refresh')
    );
    refresh.type = 'button';
    refresh.title = trans.__('List the runs of the store again');
    refresh.addEventListener('click', () => this._refreshRequested.emit());
    const toolbar = el('div', 'jp-CusprunPanel-toolbar');
    toolbar.append(this.filterInput, refresh);
    const table = el('table', 'jp-CusprunPanel-table');
    const thead = el('thead');
    thead.appendChild(this.tableHead);
    table.append(thead, this.tableBody);
    const tableWrap = el('div', 'jp-CusprunPanel-tableWrap');
    tableWrap.appendChild(table);
    this.node.append(
      el('h3', 'jp-CusprunPanel-subheading', trans.__('Runs')),
      toolbar,
      tableWrap,
      this.message
    );
    this.renderHead();
  }

  /** A row asked for its run's dashboard. */
  get opened(): ISignal<this, string> {
    return this._opened;
  }

  get refreshRequested(): ISignal<this, void> {
    return this._refreshRequested;
  }

  /** The ids of the runs listed, filtered or not. */
  get ids(): string[] {
    return this.rows.map(r => r.id);
  }

  setRows(rows: RunRow[]): void {
    this.rows = rows;
    this.say(
      rows.length === 0
        ? this.trans.__(
            'The run store has no runs yet: score a model with `%%cusprun score` or `cusprun score`.'
          )
        : ''
    );
    this.renderRows();
  }

  /** A line under the table (why the list is empty, what failed). */
  say(text: string): void {
    this.message.textContent = text;
  }

  /** Marks the run whose dashboard is current (null: none). */
  select(run: string | null): void {
    this.selectedRun = run;
    for (const tr of this.tableBody.querySelectorAll('tr')) {
      tr.setAttribute('aria-selected', String(tr.dataset.run === run));
    }
  }

  private columnLabel(key: SortKey): string {
    const t = this.trans;
    switch (key) {
      case 'id':
        return t.__('Run');
      case 'model':
        return t.__('Model');
      case 'dimensions':
        return t.__('Dimensions');
      case 'progress':
        return t.__('Scored');
      case 'lastJob':
        return t.__('Last job');
      case 'updated':
        return t.__('Updated');
    }
  }

  private renderHead(): void {
    this.tableHead.replaceChildren(...SORT_KEYS.map(key => this.headCell(key)));
  }

  private headCell(key: SortKey): HTMLTableCellElement {
    const th = el('th');
    th.dataset.key = key;
    const sorted = this.sort.key === key;
    const direction = this.sort.ascending ? 'ascending' : 'descending';
    th.setAttribute('aria-sort', sorted ? direction : 'none');
    const arrow = sorted ? (this.sort.ascending ? ' ▲' : ' ▼') : '';
    const button = el(
      'button',
      'jp-CusprunPanel-sort',
      this.columnLabel(key) + arrow
    );
    button.type = 'button';
    button.title = this.trans.__('Sort by this column');
    button.addEventListener('click', () => {
      this.sort = nextSort(this.sort, key);
      this.renderHead();
      this.renderRows();
    });
    th.appendChild(button);
    return th;
  }

  private renderRows(): void {
    const rows = sortRows(
      filterRows(this.rows, this.filterInput.value),
      this.sort
    );
    const now = Date.now();
    this.tableBody.replaceChildren(...rows.map(row => this.rowNode(row, now)));
  }

  private rowNode(row: RunRow, now: number): HTMLTableRowElement {
    const tr = el('tr', 'jp-CusprunPanel-run');
    tr.dataset.run = row.id;
    tr.tabIndex = 0;
    tr.setAttribute('aria-selected', String(row.id === this.selectedRun));
    tr.title = row.damaged
      ? this.trans.__('Run %1 is damaged: %2', row.id, row.damaged)
      : this.trans.__('Open run %1', row.id);
    for (const key of SORT_KEYS) {
      const td = el('td');
      td.dataset.key = key;
      if (key === 'updated') {
        showRelativeTime(td, row.updated, now);
      } else {
        td.textContent =
          key === 'model' && row.damaged
            ? this.trans.__('damaged: %1', row.damaged)
            : row[key];
      }
      tr.appendChild(td);
    }
    tr.addEventListener('click', () => this._opened.emit(row.id));
    tr.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this._opened.emit(row.id);
      }
    });
    return tr;
  }
}
