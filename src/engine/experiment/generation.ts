/** Greedy texts from prompts as a record keeps them: the samples, exact match and repetition. */
import type { GenerationCheck } from '../../core/experiment';
import { generate } from '../eval/generate';
import { CorpusTokenizer } from '../corpus/tokenizer';
import { ModelRunner } from '../eval/runner';

export interface Prompt {
  prompt: string;
  /** The expected continuation; exact match is reported when every prompt has one. */
  reference?: string;
}

export async function generationCheck(
  runner: ModelRunner,
  tokenizer: CorpusTokenizer,
  options: { prompts: Prompt[]; maxNewTokens: number; stopIds?: number[] }
): Promise<GenerationCheck> {
  const { prompts } = options;
  const references = prompts.every(p => p.reference !== undefined)
    ? prompts.map(p => p.reference as string)
    : undefined;
  const generated = await generate(
    runner,
    prompts.map(p => p.prompt),
    tokenizer,
    { maxNewTokens: options.maxNewTokens, references, stopIds: options.stopIds }
  );
  return {
    ...(generated.exactMatch !== undefined
      ? { exactMatch: generated.exactMatch }
      : {}),
    repetitionRate: generated.repetitionRate,
    samples: generated.generations.map((g, i) => ({
      prompt: prompts[i].prompt,
      text: tokenizer.decode(g.tokens),
      ...(prompts[i].reference !== undefined
        ? { reference: prompts[i].reference }
        : {})
    }))
  };
}
