/** Text in: the model's tokenizer, corpus manifests, documents, sampling and hashes. */
export {
  loadTokenizer,
  TOKENIZER_CONFIG_FILE,
  TOKENIZER_FILE
} from './tokenizer';
export type { CorpusTokenizer } from './tokenizer';
export {
  DEFAULT_DOCUMENTS,
  DEFAULT_SEED,
  DEFAULT_TEXT_FIELD,
  DEFAULT_TRUNCATION,
  DIMENSIONS,
  MIN_TRUNCATION,
  parseManifest,
  readManifest,
  SOURCE_EXTENSIONS,
  TEXT_FORMATS
} from './manifest';
export type {
  CorpusManifest,
  Dimension,
  DimensionSpec,
  SourceFile,
  TextFormat
} from './manifest';
export { blocksOf, jsonlOf, linesOf, readDocuments } from './documents';
export type { TextDocument } from './documents';
export { mulberry32, sampleIndices, streamSeed } from './sample';
export { corpusHash, loadCorpus, readCorpusTexts, sha256Hex } from './corpus';
export type {
  Corpus,
  CorpusDocument,
  DimensionCorpus,
  DimensionTexts,
  DocumentSource,
  LoadCorpusOptions,
  TextSample
} from './corpus';
export { decodeUtf8, firstInvalidUtf8, readUtf8File } from './utf8';
