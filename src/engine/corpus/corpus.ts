/**
 * A corpus manifest turned into what scoring consumes: per dimension, the sampled documents'
 * token ids (truncated to the manifest's length), with their sources and hashes, and one hash
 * over them all so a run records exactly what it scored. Reads files only; writes nothing.
 */
import { createHash } from 'node:crypto';
import { CusprunError } from '../../core/errors';
import { readDocuments } from './documents';
import {
  CorpusManifest,
  Dimension,
  DimensionSpec,
  readManifest,
  TextFormat
} from './manifest';
import { sampleIndices } from './sample';
import { CorpusTokenizer } from './tokenizer';

export interface DocumentSource {
  /** The corpus file, relative to the manifest's folder, '/'-separated. */
  file: string;
  /** 1-based line where the document starts. */
  line: number;
}

/** One sampled document's text, before tokenizing. */
export interface TextSample {
  dimension: Dimension;
  /** Position among the dimension's sampled documents (0-based). */
  index: number;
  source: DocumentSource;
  text: string;
  /** sha256 (hex) of the text's UTF-8 bytes. */
  sha256: string;
}

export interface CorpusDocument {
  dimension: Dimension;
  /** Position among the dimension's sampled documents (0-based). */
  index: number;
  source: DocumentSource;
  /** sha256 (hex) of the text's UTF-8 bytes (the trimmed text that was tokenized). */
  sha256: string;
  /** Token ids, at most `truncation` of them (BOS included when the tokenizer adds it). */
  tokens: number[];
  /** Whether the document had more than `truncation` tokens. */
  truncated: boolean;
  /** Token count before truncation. */
  originalTokens: number;
}

export interface DimensionTexts {
  dimension: Dimension;
  name: string;
  format: TextFormat | undefined;
  textField: string;
  /** The files read, relative to the manifest's folder, in order. */
  sources: string[];
  /** Documents found in the sources, before sampling. */
  available: number;
  documents: TextSample[];
}

export interface DimensionCorpus {
  dimension: Dimension;
  name: string;
  format: TextFormat | undefined;
  textField: string;
  sources: string[];
  available: number;
  documents: CorpusDocument[];
  /** How many documents were truncated to `truncation` tokens. */
  truncated: number;
  /** Tokens kept, over all documents. */
  tokens: number;
}

export interface Corpus {
  /** The manifest file (absolute). */
  manifest: string;
  truncation: number;
  seed: number;
  /** The manifest's `documents`: the most documents kept per dimension. */
  documentsPerDimension: number;
  tokenizer: { sha256: string; vocabSize: number; bosId: number | undefined };
  /** The dimensions present, in the order language, domain, task. */
  dimensions: DimensionCorpus[];
  /** corpusHash over the documents, truncation and seed. */
  sha256: string;
}

export interface LoadCorpusOptions {
  /**
   * The model's vocabulary size: a token id at or past it is an error (the tokenizer does not
   * belong to the model).
   */
  vocab?: number;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * sha256 (hex) of the UTF-8 text
 * `cusprun-corpus-v1\ntruncation <T>\nseed <S>\n` followed, per dimension in order, by
 * `dimension <key>\n` and one `<document sha256>\n` per document in order.
 */
export function corpusHash(
  dimensions: { dimension: Dimension; documents: { sha256: string }[] }[],
  truncation: number,
  seed: number
): string {
  const hash = createHash('sha256');
  hash.update(`cusprun-corpus-v1\ntruncation ${truncation}\nseed ${seed}\n`);
  for (const d of dimensions) {
    hash.update(`dimension ${d.dimension}\n`);
    for (const doc of d.documents) {
      hash.update(`${doc.sha256}\n`);
    }
  }
  return hash.digest('hex');
}

function readDimension(
  manifest: CorpusManifest,
  spec: DimensionSpec
): DimensionTexts {
  const pool: { source: DocumentSource; text: string }[] = [];
  const counts: string[] = [];
  for (const source of spec.files) {
    const docs = readDocuments(source.file, spec.format, spec.textField);
    counts.push(`${source.relative}: ${docs.length}`);
    for (const doc of docs) {
      pool.push({
        source: { file: source.relative, line: doc.line },
        text: doc.text
      });
    }
  }
  if (pool.length === 0) {
    throw new CusprunError(
      'bad-argument',
      `dimensions.${spec.dimension}: no documents in its sources (${counts.join(', ')}); ` +
        'empty lines and blank texts are skipped',
      manifest.file
    );
  }
  const chosen = sampleIndices(
    pool.length,
    manifest.documents,
    manifest.seed,
    spec.dimension
  );
  return {
    dimension: spec.dimension,
    name: spec.name,
    format: spec.format,
    textField: spec.textField,
    sources: spec.files.map(f => f.relative),
    available: pool.length,
    documents: chosen.map((i, index) => ({
      dimension: spec.dimension,
      index,
      source: pool[i].source,
      text: pool[i].text,
      sha256: sha256Hex(pool[i].text)
    }))
  };
}

/** Reads every dimension's sources and samples its documents; no tokenizing. */
export function readCorpusTexts(
  manifest: CorpusManifest | string
): DimensionTexts[] {
  const m = typeof manifest === 'string' ? readManifest(manifest) : manifest;
  return m.dimensions.map(spec => readDimension(m, spec));
}

/**
 * Reads a manifest (a path, or one readManifest/parseManifest returned), samples each
 * dimension's documents and tokenizes them, truncated to the manifest's length.
 */
export function loadCorpus(
  manifest: CorpusManifest | string,
  tokenizer: CorpusTokenizer,
  options: LoadCorpusOptions = {}
): Corpus {
  const m = typeof manifest === 'string' ? readManifest(manifest) : manifest;
  const texts = readCorpusTexts(m);
  const dimensions = texts.map((dim): DimensionCorpus => {
    let truncated = 0;
    let tokens = 0;
    const documents = dim.documents.map((doc): CorpusDocument => {
      const ids = tokenizer.encode(doc.text);
      const where = `${doc.source.file} line ${doc.source.line}`;
      if (ids.length === 0) {
        throw new CusprunError(
          'bad-argument',
          `${where}: the tokenizer gives no tokens for this document`,
          m.file
        );
      }
      if (options.vocab !== undefined) {
        const bad = ids.find(id => id >= options.vocab!);
        if (bad !== undefined) {
          throw new CusprunError(
            'bad-argument',
            `token id ${bad} (in ${where}) is past the model's vocabulary of ${options.vocab}: ` +
              'this tokenizer does not belong to the model',
            tokenizer.dir
          );
        }
      }
      const isTruncated = ids.length > m.truncation;
      if (isTruncated) truncated++;
      const kept = isTruncated ? ids.slice(0, m.truncation) : ids;
      tokens += kept.length;
      return {
        dimension: doc.dimension,
        index: doc.index,
        source: doc.source,
        sha256: doc.sha256,
        tokens: kept,
        truncated: isTruncated,
        originalTokens: ids.length
      };
    });
    return {
      dimension: dim.dimension,
      name: dim.name,
      format: dim.format,
      textField: dim.textField,
      sources: dim.sources,
      available: dim.available,
      documents,
      truncated,
      tokens
    };
  });
  return {
    manifest: m.file,
    truncation: m.truncation,
    seed: m.seed,
    documentsPerDimension: m.documents,
    tokenizer: {
      sha256: tokenizer.sha256,
      vocabSize: tokenizer.vocabSize,
      bosId: tokenizer.bosId
    },
    dimensions,
    sha256: corpusHash(dimensions, m.truncation, m.seed)
  };
}
