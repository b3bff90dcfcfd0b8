/**
 * Progress of a scoring run on the terminal: one line rewritten in place on a TTY, plain lines
 * (at most one per 10% or per 10 seconds) when the output is a file or a pipe.
 */
import { ScoreProgress } from '../../engine/score';

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

export function describeProgress(p: ScoreProgress): string {
  const remaining = p.total - p.done;
  const perDocument =
    p.done > p.skipped ? p.elapsedMs / 1000 / (p.done - p.skipped) : undefined;
  const eta = perDocument === undefined ? '?' : clock(remaining * perDocument);
  const width = 24;
  const filled = p.total ? Math.round((width * p.done) / p.total) : width;
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  return `${bar} ${p.done}/${p.total} documents · ${Math.round(p.tokensPerSecond).toLocaleString('en-US')} tokens/s · ETA ${eta}`;
}

export function progressPrinter(stream: NodeJS.WriteStream): {
  update(p: ScoreProgress): void;
  end(): void;
} {
  let lastLine = 0;
  let lastTenth = -1;
  let shown = false;
  return {
    update(p) {
      if (stream.isTTY) {
        stream.write(`\r${describeProgress(p)}\x1b[K`);
        shown = true;
        return;
      }
      const tenth = p.total ? Math.floor((10 * p.done) / p.total) : 10;
      if (tenth !== lastTenth || Date.now() - lastLine > 10_000) {
        stream.write(`${describeProgress(p)}\n`);
        lastTenth = tenth;
        lastLine = Date.now();
      }
    },
    end() {
      if (shown) {
        stream.write('\n');
      }
    }
  };
}

/** One JSON line: what a program that drives the CLI reads from `--progress json`. */
export function jsonLine(value: object): string {
  return `${JSON.stringify(value)}\n`;
}

/** Every progress update as a JSON line, for a driver that sums several shards' progress. */
export function jsonProgressPrinter(stream: NodeJS.WritableStream): {
  update(p: ScoreProgress): void;
  end(): void;
} {
  return {
    update(progress) {
      stream.write(jsonLine({ type: 'progress', progress }));
    },
    end() {}
  };
}

/** Progress of a job made of steps (sweep points, ablation subsets): one line per step done. */
export function progressLines(
  stream: NodeJS.WritableStream
): (step: string) => void {
  let done = 0;
  return step => {
    done += 1;
    stream.write(`[${done}] ${step}\n`);
  };
}
