/**
 * One main-area tab per key: the tracked tab with this id is shown again, or the one `create`
 * makes is added, tracked (so the layout restorer reopens it) and shown.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { WidgetTracker } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

export function showInMainArea<T extends Widget>(
  app: JupyterFrontEnd,
  tracker: WidgetTracker<T>,
  id: string,
  create: () => T
): T {
  const open = tracker.find(widget => widget.id === id);
  const widget = open ?? create();
  if (!open) {
    app.shell.add(widget, 'main');
    void tracker.add(widget);
  }
  app.shell.activateById(widget.id);
  return widget;
}
