/**
 * A run folder: what one scoring run is (model, corpus, settings, versions), its score store,
 * and what was derived from it (pruned models). `run.json` is replaced through a temporary file
 * and a rename, so a crash never leaves it half written.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runtimeVersion } from '../engine/capture/runtime';
import { CusprunError } from '../core/errors';
import type { RunRecord } from '../core/protocol';
import { writeFileAtomic } from '../engine/output';

import { EVENTS_FILE, RUN_FILE, SCORES_DIR } from '../core/protocol';

export { EVENTS_FILE, RUN_FILE, SCORES_DIR };

/** run.json's shape is part of the protocol: the sidecar serves it as it is. */
export type { RunRecord };
export type RunPrune = RunRecord['prunes'][number];

export function cusprunVersion(): string {
  // package.json sits two levels above dist/sidecar and src/sidecar alike.
  const file = path.join(__dirname, '..', '..', 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string })
    .version;
}

export function toolVersions(): RunRecord['versions'] {
  return {
    cusprun: cusprunVersion(),
    onnxruntime: runtimeVersion(),
    node: process.version
  };
}

export function readRun(dir: string): RunRecord {
  const file = path.join(path.resolve(dir), RUN_FILE);
  if (!fs.existsSync(file)) {
    throw new CusprunError(
      'not-found',
      `not a run folder (no ${RUN_FILE}); make one with 'cusprun score'`,
      dir
    );
  }
  try {
    const record = JSON.parse(fs.readFileSync(file, 'utf8')) as RunRecord;
    if (record.format !== 'cusprun-run') {
      throw new Error(`format '${record.format}'`);
    }
    return record;
  } catch (error) {
    throw new CusprunError(
      'bad-argument',
      `not a cusprun run record (${error instanceof Error ? error.message : String(error)})`,
      file
    );
  }
}

export function writeRun(dir: string, record: RunRecord): void {
  writeFileAtomic(
    path.join(path.resolve(dir), RUN_FILE),
    `${JSON.stringify({ ...record, updated: new Date().toISOString() }, null, 2)}\n`
  );
}

/**
 * A record's file name from its time stamp, sortable and safe on every filesystem: each job keeps
 * its own files (`2026-01-02T03-04-05-678Z.json`, and beside it `.csv`, `.md`, … for a study).
 */
export function stampName(at: string, extension = '.json'): string {
  return `${at.replace(/[:.]/g, '-')}${extension}`;
}
