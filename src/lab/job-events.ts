/**
 * The events WebSocket (`{wsUrl}cusprun/api/events`, relayed by the server extension), shared
 * by the panel and the status bar: it keeps the table of jobs and signals every update.
 */
import { ServerConnection } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';
import { eventsURL } from './api';
import {
  activeJob,
  applyJobUpdate,
  JobEntry,
  JobUpdate,
  readJobMessage
} from './jobs-model';

export class JobEvents implements IDisposable {
  private socket: WebSocket | null = null;
  private table = new Map<string, JobEntry>();
  private readonly updated = new Signal<this, JobUpdate>(this);
  private disposed = false;

  constructor(
    private readonly serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  /** Every update of a job, after the table took it in. */
  get changed(): ISignal<this, JobUpdate> {
    return this.updated;
  }

  get jobs(): ReadonlyMap<string, JobEntry> {
    return this.table;
  }

  /** The job to show when only one fits (the status bar). */
  get active(): JobEntry | null {
    return activeJob(this.table);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Opens the socket unless it is open; called again after a sidecar restart closed it. */
  connect(): void {
    if (this.disposed || this.socket || typeof WebSocket === 'undefined') {
      return;
    }
    let socket: WebSocket;
    try {
      socket = new WebSocket(eventsURL(this.serverSettings));
    } catch {
      return;
    }
    this.socket = socket;
    socket.addEventListener('message', event => {
      const update = readJobMessage(event.data);
      if (update) {
        this.table = applyJobUpdate(this.table, update);
        this.updated.emit(update);
      }
    });
    socket.addEventListener('close', () => {
      if (this.socket !== socket) {
        return;
      }
      this.socket = null;
      // A job that was running when the sidecar went away will not report its end.
      for (const job of this.table.values()) {
        if (job.state === 'running' || job.state === 'queued') {
          const update: JobUpdate = {
            kind: 'state',
            job: { ...job, state: 'interrupted' }
          };
          this.table = applyJobUpdate(this.table, update);
          this.updated.emit(update);
        }
      }
    });
  }

  dispose(): void {
    if (this.disposed) {
      return;
    }
    this.disposed = true;
    this.socket?.close();
    this.socket = null;
    Signal.clearData(this);
  }
}
