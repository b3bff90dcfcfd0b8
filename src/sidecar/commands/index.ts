/** Every `cusprun` command, in the order the help lists them. */
import ablate from './ablate';
import evalCommand from './eval';
import inspect from './inspect';
import merge from './merge';
import plan from './plan';
import prune from './prune';
import report from './report';
import score from './score';
import serve from './serve';
import study from './study';
import sweep from './sweep';
import verify from './verify';

export const COMMANDS = [
  inspect,
  score,
  merge,
  plan,
  prune,
  verify,
  evalCommand,
  sweep,
  ablate,
  study,
  report,
  serve
];
export { UsageError } from './args';
export type { Command } from './command';
