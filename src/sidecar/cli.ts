/**
 * The `cusprun` command line. A mistake in the user's input or environment prints one line and
 * exits 1; a mistake in how a command was called prints one line and exits 2; only a bug shows
 * a stack trace.
 */
import { EXIT_WITH_PARENT_ENV } from '../core/protocol';
import { userError } from '../engine/fs-errors';
import { commandHelp, parseCommand } from './commands/args';
import { Command, COMMANDS, UsageError } from './commands';
import { cusprunVersion } from './run-folder';

function usage(): string {
  const width = Math.max(...COMMANDS.map(c => c.name.length)) + 2;
  const list = COMMANDS.map(
    c => `  ${c.name.padEnd(width)}${c.summary.split('\n')[0]}`
  );
  return `usage: cusprun <command> [options]

commands:
${list.join('\n')}
  ${'export'.padEnd(width)}a Hugging Face folder or a GGUF file to an ONNX folder (the Python
  ${''.padEnd(width)}package's command: pip install 'cusprun[export]')

'cusprun <command> --help' shows a command's options.
  -h, --help     show this help
  -v, --version  show the version
`;
}

function find(name: string): Command {
  const command = COMMANDS.find(c => c.name === name);
  if (command) {
    return command;
  }
  if (name === 'export') {
    throw new UsageError(
      "export: is a command of cusprun's Python package: pip install 'cusprun[export]', then run 'cusprun export' from that environment"
    );
  }
  throw new UsageError(`${name}: unknown command; see 'cusprun --help'`);
}

export async function run(
  argv: string[]
): Promise<{ stdout: string; code: number }> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    return { stdout: usage(), code: 2 };
  }
  if (name === '-h' || name === '--help' || name === 'help') {
    return { stdout: usage(), code: 0 };
  }
  if (name === '-v' || name === '--version') {
    return { stdout: `cusprun ${cusprunVersion()}\n`, code: 0 };
  }
  const command = find(name);
  const parsed = parseCommand(
    command.name,
    rest,
    command.options,
    command.hints
  );
  if (parsed.help) {
    return {
      stdout: commandHelp(command.synopsis, command.summary, command.options),
      code: 0
    };
  }
  return { stdout: await command.run(parsed), code: 0 };
}

/**
 * Ctrl-C or a SIGTERM ends a command through process.exit, so its temporary folders go with it
 * (engine/output/temp-dir.ts); `serve` stops on its own terms.
 */
function exitOnSignals(command: string | undefined): void {
  if (COMMANDS.find(c => c.name === command)?.stopsOnSignals) {
    return;
  }
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(143));
}

/** How often a CLI started by a Ray task looks whether that task's worker is still there. */
const PARENT_CHECK_MS = 1000;

/**
 * With EXIT_WITH_PARENT_ENV set, ends as on SIGTERM once the parent is gone (the process is then
 * re-parented, so its parent pid changes): a killed Ray worker's CLI does not run on.
 */
function exitWithParent(): void {
  if (process.env[EXIT_WITH_PARENT_ENV] !== '1') {
    return;
  }
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) {
      process.exit(143);
    }
  }, PARENT_CHECK_MS).unref();
}

/** Runs the command line in process.argv: the entry of `node cli.js` and of the bin shim. */
export async function main(): Promise<void> {
  exitOnSignals(process.argv[2]);
  exitWithParent();
  try {
    const { stdout, code } = await run(process.argv.slice(2));
    process.stdout.write(stdout);
    process.exitCode = code;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`cusprun: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    const mistake = userError(error);
    if (!mistake) {
      throw error;
    }
    process.stderr.write(`cusprun: ${mistake.message}\n`);
    process.exitCode = 1;
  }
}

if (require.main === module) {
  void main();
}
