/** What a `cusprun` command is: its options, its help, and what it prints when it succeeds. */
import { OptionSpecs, Parsed } from './args';

export interface Command<O extends OptionSpecs = OptionSpecs> {
  name: string;
  /** The command's usage line, after `cusprun `. */
  synopsis: string;
  /** One line for the command list, then more for its own help. */
  summary: string;
  options: O;
  /** What to do instead, for options a user may expect here but the command does not take. */
  hints?: Record<string, string>;
  /** Handles SIGINT and SIGTERM itself (the CLI otherwise exits on them). */
  stopsOnSignals?: boolean;
  /** Runs it; resolves to what goes to stdout (progress and notes go to stderr). */
  run(args: Parsed<O>): Promise<string>;
}

/** Declares a command; its option types flow from `options` into `run`. */
export function defineCommand<O extends OptionSpecs>(
  command: Command<O>
): Command {
  return command as unknown as Command;
}
