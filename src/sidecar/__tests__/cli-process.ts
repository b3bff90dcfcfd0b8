/** The built `cusprun` CLI as a user runs it: a real Node process, its output and exit status. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CLI = path.resolve(__dirname, '../../../dist/sidecar/cli.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cusprun ARGS…` in the folder `cwd`, with `env` added to this process's. */
export function cusprunWith(
  options: { cwd?: string; env?: NodeJS.ProcessEnv },
  ...args: string[]
): CliResult {
  if (!fs.existsSync(CLI)) {
    throw new Error(`${CLI} is missing: run 'npm run build:node' first`);
  }
  const result = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    cwd: options.cwd,
    env: { ...process.env, ...options.env }
  });
  // Whatever the input, a user never sees a stack trace.
  expect(result.stderr).not.toMatch(/\n\s+at /);
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function cusprunIn(
  cwd: string | undefined,
  ...args: string[]
): CliResult {
  return cusprunWith({ cwd }, ...args);
}

export function cusprun(...args: string[]): CliResult {
  return cusprunIn(undefined, ...args);
}

/** A progress line as score and prune print them on a stream that is not a terminal. */
export const PROGRESS_LINE = /^\[[#.]+\] \d+\/\d+ documents · /;

/** The lines of `stderr` that are not progress lines: what a clean run leaves empty. */
export function notProgress(stderr: string): string[] {
  return stderr.split('\n').filter(l => l !== '' && !PROGRESS_LINE.test(l));
}
