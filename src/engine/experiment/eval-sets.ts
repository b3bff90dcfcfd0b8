/**
 * Evaluation sets and what a model scores on them. A JSON Lines file is a multiple-choice set
 * when its lines hold `question`, `choices` and `answer`, else a perplexity set of `text`
 * lines; a `.txt` file is a perplexity set of blank-line-separated blocks.
 */
import type { EvalMetric, EvalTask } from '../../core/experiment';
import * as path from 'node:path';
import { blocksOf, jsonlOf, sha256Hex } from '../corpus';
import { CorpusTokenizer } from '../corpus/tokenizer';
import { readUtf8File } from '../corpus/utf8';
import { CusprunError } from '../../core/errors';
import {
  McItem,
  multipleChoice,
  readMultipleChoice
} from '../eval/multiple-choice';
import { perplexity } from '../eval/perplexity';
import { ModelRunner } from '../eval/runner';

export interface EvalSet {
  /** The file's name without its extension, unless given. */
  name: string;
  file: string;
  task: EvalTask;
  sha256: string;
  texts: string[];
  items: McItem[];
}

export interface EvalSettings {
  /** Tokens per document (perplexity) or per question + choice (multiple choice). */
  truncation: number;
  batchSize?: number;
}

export type { EvalMetric, EvalTask };

function isMultipleChoice(text: string): boolean {
  const first = text.split(/\r?\n/).find(l => l.trim() !== '');
  if (!first) {
    return false;
  }
  try {
    const value = JSON.parse(first) as Record<string, unknown>;
    return typeof value === 'object' && value !== null && 'choices' in value;
  } catch {
    return false;
  }
}

/** Reads `FILE` or `NAME=FILE`. */
export function loadEvalSet(spec: string): EvalSet {
  const eq = spec.indexOf('=');
  const file = path.resolve(eq > 0 ? spec.slice(eq + 1) : spec);
  const ext = path.extname(file).toLowerCase();
  const name = eq > 0 ? spec.slice(0, eq) : path.basename(file, ext);
  if (ext !== '.jsonl' && ext !== '.txt') {
    throw new CusprunError(
      'bad-argument',
      `not an evaluation set: expected .jsonl or .txt (got '${ext || 'no extension'}')`,
      file
    );
  }
  const text = readUtf8File(file);
  const base = { name, file, sha256: sha256Hex(text) };
  if (ext === '.jsonl' && isMultipleChoice(text)) {
    return {
      ...base,
      task: 'multiple-choice',
      texts: [],
      items: readMultipleChoice(file)
    };
  }
  const texts = (
    ext === '.jsonl'
      ? jsonlOf(
          text,
          'text',
          file,
          'each line of an evaluation set holds {"text"} (perplexity) or {"question", "choices", "answer"} (multiple choice)'
        )
      : blocksOf(text)
  ).map(d => d.text);
  if (texts.length === 0) {
    throw new CusprunError('bad-argument', 'holds no documents', file);
  }
  return { ...base, task: 'perplexity', texts, items: [] };
}

export function loadEvalSets(specs: string[]): EvalSet[] {
  const sets = specs.map(loadEvalSet);
  const names = new Set<string>();
  for (const set of sets) {
    if (names.has(set.name)) {
      throw new CusprunError(
        'bad-argument',
        `two evaluation sets are named '${set.name}'; name one with NAME=FILE`,
        set.file
      );
    }
    names.add(set.name);
  }
  return sets;
}

/** What identifies an evaluation: the sets' contents and the settings. */
export function suiteIdentity(sets: EvalSet[], settings: EvalSettings): string {
  return sha256Hex(
    JSON.stringify({
      sets: sets.map(s => [s.name, s.task, s.sha256]),
      truncation: settings.truncation
    })
  );
}

export async function evaluate(
  runner: ModelRunner,
  sets: EvalSet[],
  tokenizer: CorpusTokenizer,
  settings: EvalSettings
): Promise<EvalMetric[]> {
  const metrics: EvalMetric[] = [];
  for (const set of sets) {
    if (set.task === 'perplexity') {
      const result = await perplexity(runner, set.texts, tokenizer, settings);
      metrics.push({
        evalSet: set.name,
        metric: 'perplexity',
        value: result.perplexity,
        count: result.tokens
      });
    } else {
      const result = await multipleChoice(
        runner,
        set.items,
        tokenizer,
        settings
      );
      metrics.push(
        {
          evalSet: set.name,
          metric: 'accuracy',
          value: result.accuracy,
          count: result.items
        },
        {
          evalSet: set.name,
          metric: 'accuracy_norm',
          value: result.accuracyNorm,
          count: result.items
        }
      );
    }
  }
  return metrics;
}
