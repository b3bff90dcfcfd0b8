/**
 * The model folder's Hugging Face tokenizer (tokenizer.json + tokenizer_config.json), run by
 * @huggingface/tokenizers: pure JavaScript, no network.
 *
 * Documents are encoded as raw text: no chat template and no post-processor templates. The BOS
 * token is prepended only when tokenizer_config.json says `"add_bos_token": true` (Llama 1/2,
 * Mistral, Gemma); an EOS token is never appended. Tokenizers whose config does not say so
 * (GPT-2, Qwen2, Llama 3, which adds BOS through its post-processor) get no BOS: one rule, read
 * from one field, so the same folder always gives the same ids.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tokenizer } from '@huggingface/tokenizers' with {
  'resolution-mode': 'import'
};
import { CusprunError } from '../../core/errors';
import { readUtf8File } from './utf8';

// The package is an ES module with a CommonJS build for Node (its "node"/"require" export);
// the engine compiles to CommonJS, so it loads that build and borrows only the types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const tokenizers = require('@huggingface/tokenizers') as {
  Tokenizer: typeof Tokenizer;
};

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

export interface CorpusTokenizer {
  /** The folder the tokenizer files were read from (absolute). */
  readonly dir: string;
  /** Highest token id + 1, over the vocabulary and the added tokens. */
  readonly vocabSize: number;
  /** The id prepended to every document (when add_bos_token is true), or undefined. */
  readonly bosId: number | undefined;
  /**
   * sha256 (hex) of the text `tokenizer.json <sha256 of its bytes>\n` +
   * `tokenizer_config.json <sha256 of its bytes, or none>\n`.
   */
  readonly sha256: string;
  /** Token ids of raw text (BOS first when add_bos_token is set). */
  encode(text: string): number[];
  /** Text of token ids, special tokens left out. */
  decode(ids: number[]): string;
}

function readJsonObject(file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(readUtf8File(file));
  } catch (error) {
    if (error instanceof CusprunError) {
      throw error;
    }
    throw new CusprunError(
      'bad-argument',
      `not valid JSON (${error instanceof Error ? error.message : String(error)})`,
      file
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CusprunError('bad-argument', 'not a JSON object', file);
  }
  return value as Record<string, unknown>;
}

/** tokenizer_config.json's bos_token: a string, an AddedToken object, or null/absent. */
function bosTokenOf(
  config: Record<string, unknown>,
  file: string
): string | undefined {
  const bos = config.bos_token;
  if (bos === undefined || bos === null) {
    return undefined;
  }
  if (typeof bos === 'string') {
    return bos;
  }
  if (
    typeof bos === 'object' &&
    typeof (bos as { content?: unknown }).content === 'string'
  ) {
    return (bos as { content: string }).content;
  }
  throw new CusprunError(
    'bad-argument',
    'bos_token: expected a string or an object with a "content" string',
    file
  );
}

/**
 * Loads the tokenizer of a model folder (or of the folder holding a model file). Needs
 * tokenizer.json; tokenizer_config.json is optional (absent: no BOS).
 */
export function loadTokenizer(modelDir: string): CorpusTokenizer {
  const given = path.resolve(modelDir);
  if (!fs.existsSync(given)) {
    throw new CusprunError('not-found', 'no such model folder', given);
  }
  const dir = fs.statSync(given).isDirectory() ? given : path.dirname(given);
  const tokenizerFile = path.join(dir, TOKENIZER_FILE);
  if (!fs.existsSync(tokenizerFile)) {
    throw new CusprunError(
      'not-found',
      `no ${TOKENIZER_FILE} in this model folder: cusprun tokenizes corpora with the ` +
        `Hugging Face ${TOKENIZER_FILE} (and ${TOKENIZER_CONFIG_FILE}, when there is one) ` +
        'that belongs to the model; copy them from the model repository beside model.onnx',
      dir
    );
  }
  const configFile = path.join(dir, TOKENIZER_CONFIG_FILE);
  const hasConfig = fs.existsSync(configFile);
  const tokenizerJson = readJsonObject(tokenizerFile);
  const config = hasConfig ? readJsonObject(configFile) : {};

  let tokenizer: Tokenizer;
  try {
    tokenizer = new tokenizers.Tokenizer(tokenizerJson, config);
  } catch (error) {
    throw new CusprunError(
      'unsupported',
      `not a tokenizer @huggingface/tokenizers can load (${error instanceof Error ? error.message : String(error)})`,
      tokenizerFile
    );
  }

  const addBos = config.add_bos_token;
  if (addBos !== undefined && addBos !== null && typeof addBos !== 'boolean') {
    throw new CusprunError(
      'bad-argument',
      'add_bos_token: expected true or false',
      configFile
    );
  }
  let bosId: number | undefined;
  if (addBos === true) {
    const bos = bosTokenOf(config, configFile);
    if (bos === undefined) {
      throw new CusprunError(
        'bad-argument',
        'add_bos_token is true but bos_token is not set',
        configFile
      );
    }
    bosId = tokenizer.token_to_id(bos);
    if (bosId === undefined) {
      throw new CusprunError(
        'bad-argument',
        `add_bos_token is true but bos_token '${bos}' is not in ${TOKENIZER_FILE}`,
        configFile
      );
    }
  }

  let vocabSize = 0;
  for (const id of tokenizer.get_vocab(true).values()) {
    vocabSize = Math.max(vocabSize, id + 1);
  }

  const fileHash = (file: string) =>
    createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  const sha256 = createHash('sha256')
    .update(
      `${TOKENIZER_FILE} ${fileHash(tokenizerFile)}\n` +
        `${TOKENIZER_CONFIG_FILE} ${hasConfig ? fileHash(configFile) : 'none'}\n`
    )
    .digest('hex');

  const bos = bosId;
  return {
    dir,
    vocabSize,
    bosId,
    sha256,
    encode(text: string): number[] {
      const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
      return bos === undefined ? ids : [bos, ...ids];
    },
    decode(ids: number[]): string {
      // The library throws on no ids: a generation that ends at once (EOS first) has none.
      return ids.length === 0
        ? ''
        : tokenizer.decode(ids, { skip_special_tokens: true });
    }
  };
}
