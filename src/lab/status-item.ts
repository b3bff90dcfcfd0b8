/**
 * The status-bar item: the running (else queued) cusprun job's progress, shown while there is
 * one; a click opens the panel.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import { JobEvents } from './job-events';
import { jobLine, statusText } from './jobs-model';

export class JobStatusItem extends Widget {
  private readonly activeChanged = new Signal<this, void>(this);

  constructor(
    private readonly events: JobEvents,
    private readonly trans: TranslationBundle,
    onClick: () => void
  ) {
    super();
    this.addClass('jp-CusprunStatus');
    this.node.setAttribute('role', 'status');
    this.node.addEventListener('click', onClick);
    events.changed.connect(this.refresh, this);
    this.refresh();
  }

  /** After every job update: the status bar asks `isActive` again. */
  get activeStateChanged(): ISignal<this, void> {
    return this.activeChanged;
  }

  /** Whether the status bar should show the item now. */
  get isActive(): boolean {
    return this.events.active !== null;
  }

  refresh(): void {
    const job = this.events.active;
    this.node.textContent = job ? statusText(job, this.trans) : '';
    this.node.title = job
      ? jobLine(job, this.trans) +
        ' · ' +
        this.trans.__('Open the Cus-Prun panel')
      : '';
    this.activeChanged.emit();
  }

  dispose(): void {
    this.events.changed.disconnect(this.refresh, this);
    Signal.clearData(this);
    super.dispose();
  }
}
