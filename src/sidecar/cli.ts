/**
 * The `cusprun` command line. A mistake in the user's input prints one line and exits 1; a
 * usage mistake exits 2; only a bug shows a stack trace.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { isCusprunError } from '../engine/errors';
import { inspect } from './commands/inspect';

const USAGE = `usage: cusprun <command> [options]

commands:
  inspect MODEL [--json]   map an ONNX decoder export (a folder with model.onnx, or a .onnx file):
                           family, layers, prunable units and parameters, blockers
options:
  -h, --help               show this help
  -v, --version            show the version`;

class UsageError extends Error {}

function version(): string {
  // package.json sits two levels above dist/sidecar and src/sidecar alike.
  const file = path.join(__dirname, '..', '..', 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string })
    .version;
}

export function run(argv: string[]): { stdout: string; code: number } {
  const [command, ...rest] = argv;
  if (
    command === undefined ||
    command === '-h' ||
    command === '--help' ||
    command === 'help'
  ) {
    return { stdout: `${USAGE}\n`, code: command === undefined ? 2 : 0 };
  }
  if (command === '-v' || command === '--version') {
    return { stdout: `cusprun ${version()}\n`, code: 0 };
  }
  switch (command) {
    case 'inspect': {
      let parsed;
      try {
        parsed = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { json: { type: 'boolean' } }
        });
      } catch (error) {
        throw new UsageError(
          error instanceof Error ? error.message : String(error)
        );
      }
      if (parsed.positionals.length !== 1) {
        throw new UsageError(
          'inspect takes one MODEL (a folder with model.onnx, or a .onnx file)'
        );
      }
      return {
        stdout: inspect(parsed.positionals[0], {
          json: parsed.values.json ?? false
        }),
        code: 0
      };
    }
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

function main(): void {
  try {
    const { stdout, code } = run(process.argv.slice(2));
    process.stdout.write(stdout);
    process.exitCode = code;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`cusprun: ${error.message}\n${USAGE}\n`);
      process.exitCode = 2;
    } else if (isCusprunError(error)) {
      process.stderr.write(`cusprun: ${error.message}\n`);
      process.exitCode = 1;
    } else {
      throw error;
    }
  }
}

if (require.main === module) {
  main();
}
