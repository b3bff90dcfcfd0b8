/**
 * The option parser every command shares: each command declares its options once, and the same
 * declaration checks the command line (one line per mistake, exit status 2) and writes its
 * `--help`. Built on node:util's tokenizer, so that values such as `--sigma -1` reach the
 * command (which says what is wrong with them) instead of reading as options.
 */
import { parseArgs } from 'node:util';

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** The value's placeholder in the help (`N`, `FILE`, …). */
  value?: string;
  help: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** Parsed values: strings, lists of strings (multiple) and flags, by option name. */
export type Values<O extends OptionSpecs> = {
  [K in keyof O]?: O[K]['type'] extends 'boolean'
    ? boolean
    : O[K]['multiple'] extends true
      ? string[]
      : string;
};

/** A mistake in how a command was called: one line, exit status 2. */
export class UsageError extends Error {}

export interface Parsed<O extends OptionSpecs> {
  values: Values<O>;
  positionals: string[];
}

const HELP: OptionSpec = { type: 'boolean', help: 'show this help' };

function checkToken(
  command: string,
  spec: OptionSpec | undefined,
  token: { rawName: string; value?: string; inlineValue?: boolean },
  hints: Record<string, string>
): void {
  const see = `see 'cusprun ${command} --help'`;
  const hint = hints[token.rawName.replace(/^--/, '')];
  if (!spec && hint) {
    throw new UsageError(`${token.rawName}: ${hint}`);
  }
  if (!spec) {
    throw new UsageError(
      `${token.rawName}: unknown option of 'cusprun ${command}'; ${see}`
    );
  }
  if (spec.type === 'boolean' && token.value !== undefined) {
    throw new UsageError(
      `${token.rawName}: takes no value, got '${token.value}'`
    );
  }
  const missing =
    token.value === undefined ||
    (!token.inlineValue && /^--?[A-Za-z]/.test(token.value));
  if (spec.type === 'string' && missing) {
    throw new UsageError(
      `${token.rawName}: needs a value (${spec.value ?? 'VALUE'}); ${see}`
    );
  }
}

/**
 * Parses `args` against `options`; `--help` is every command's. `hints` say what to do instead
 * of options the command does not take but a user may expect it to.
 */
export function parseCommand<O extends OptionSpecs>(
  command: string,
  args: string[],
  options: O,
  hints: Record<string, string> = {}
): Parsed<O> & { help: boolean } {
  const specs: OptionSpecs = { ...options, help: HELP };
  const { tokens } = parseArgs({
    args,
    options: Object.fromEntries(
      Object.entries(specs).map(([name, s]) => [name, { type: s.type }])
    ),
    strict: false,
    allowPositionals: true,
    tokens: true
  });
  const values: Record<string, string | string[] | boolean> = {};
  const positionals: string[] = [];
  let help = false;
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value);
    } else if (token.kind === 'option') {
      const name = token.rawName === '-h' ? 'help' : token.name;
      const spec = specs[name];
      checkToken(
        command,
        token.rawName.startsWith('--') || name === 'help' ? spec : undefined,
        token,
        hints
      );
      if (name === 'help') {
        help = true;
      } else if (spec.type === 'boolean') {
        values[name] = true;
      } else if (spec.multiple) {
        values[name] = [
          ...((values[name] as string[] | undefined) ?? []),
          token.value as string
        ];
      } else if (name in values) {
        throw new UsageError(`${token.rawName}: given twice; give it once`);
      } else {
        values[name] = token.value as string;
      }
    }
  }
  return { values: values as Values<O>, positionals, help };
}

/** `--help` of one command: its synopsis, what it does, and its options. */
export function commandHelp(
  synopsis: string,
  summary: string,
  options: OptionSpecs
): string {
  const rows = Object.entries({ ...options, help: HELP }).map(
    ([name, spec]) => {
      const flag = `${name === 'help' ? '-h, ' : ''}--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`;
      return [flag, spec.help + (spec.multiple ? ' (repeatable)' : '')];
    }
  );
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const lines = rows.map(([flag, help]) => `  ${flag.padEnd(width)}${help}`);
  return `usage: cusprun ${synopsis}\n\n${summary}\n\noptions:\n${lines.join('\n')}\n`;
}

/** A number option's value, or undefined when absent. */
export function numberValue(
  name: string,
  value: string | undefined
): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) {
    throw new UsageError(`--${name}: takes a number, got '${value}'`);
  }
  return n;
}

/**
 * A comma-separated list of `names`, each checked: a mistake names the option and the value,
 * and `hint` follows the names.
 */
export function namesValue<T extends string>(
  option: string,
  list: string,
  names: readonly T[],
  hint = ''
): T[] {
  return list.split(',').map(text => {
    const name = text.trim() as T;
    if (!names.includes(name)) {
      throw new UsageError(
        `--${option}: '${text}' is not one of ${names.join(', ')}${hint}`
      );
    }
    return name;
  });
}

/** An option that names one of `names`, checked; undefined when absent. */
export function nameValue<T extends string>(
  option: string,
  value: string | undefined,
  names: readonly T[]
): T | undefined {
  return value === undefined ? undefined : namesValue(option, value, names)[0];
}

export function requiredValue(
  name: string,
  value: string | undefined,
  what: string
): string {
  if (value === undefined) {
    throw new UsageError(`--${name} ${what} is required`);
  }
  return value;
}

export function positionalCount(
  command: string,
  positionals: string[],
  count: { min: number; max: number },
  what: string
): void {
  if (positionals.length < count.min || positionals.length > count.max) {
    const got = positionals.length
      ? `got ${positionals.map(p => `'${p}'`).join(' ')}`
      : 'got none';
    throw new UsageError(
      `${command} takes ${what}, ${got}; see 'cusprun ${command} --help'`
    );
  }
}

/** `--shard I/N` (or another option's I/N): shard I (from 0) of N, or undefined when absent. */
export function shardValue(
  value: string | undefined,
  option = 'shard'
): { index: number; count: number } | undefined {
  if (value === undefined) {
    return undefined;
  }
  const match = /^(\d+)\/(\d+)$/.exec(value.trim());
  const [index, count] = match ? [Number(match[1]), Number(match[2])] : [];
  if (
    index === undefined ||
    count === undefined ||
    count < 1 ||
    index >= count
  ) {
    throw new UsageError(
      `--${option}: takes I/N, shard I of N counted from 0 (0/3, 1/3, 2/3), got '${value}'`
    );
  }
  return { index, count };
}
