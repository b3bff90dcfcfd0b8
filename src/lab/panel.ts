/**
 * The Cus-Prun side panel. For now it shows the sidecar's state and the settings in effect; the
 * run tracker, charts and σ slider arrive with the sidecar.
 */
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { ICusprunSettings } from './tokens';

export class CusprunPanel extends Widget {
  private readonly trans: TranslationBundle;
  private readonly settingsList: HTMLDListElement;

  constructor(trans: TranslationBundle, settings: ICusprunSettings) {
    super();
    this.trans = trans;
    this.id = 'cusprun-panel';
    this.addClass('jp-CusprunPanel');
    this.title.caption = trans.__('Cus-Prun');
    this.title.label = trans.__('Cus-Prun');

    const heading = document.createElement('h2');
    heading.className = 'jp-CusprunPanel-heading';
    heading.textContent = trans.__('Cus-Prun');

    const status = document.createElement('p');
    status.className = 'jp-CusprunPanel-status';
    status.textContent = trans.__('Sidecar: not connected');

    this.settingsList = document.createElement('dl');
    this.settingsList.className = 'jp-CusprunPanel-settings';

    this.node.append(heading, status, this.settingsList);
    this.showSettings(settings);
  }

  /** Shows the settings in effect; called again whenever the user changes them. */
  showSettings(settings: ICusprunSettings): void {
    const rows: [string, string][] = [
      [this.trans.__('Run store'), settings.runStore],
      [
        this.trans.__('Sidecar threads'),
        settings.threads === 0
          ? this.trans.__('automatic')
          : String(settings.threads)
      ]
    ];
    this.settingsList.replaceChildren(
      ...rows.flatMap(([term, value]) => {
        const dt = document.createElement('dt');
        dt.textContent = term;
        const dd = document.createElement('dd');
        dd.textContent = value;
        return [dt, dd];
      })
    );
  }
}
