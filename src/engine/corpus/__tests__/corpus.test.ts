import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { corpusHash, loadCorpus, readCorpusTexts, sha256Hex } from '../corpus';
import { parseManifest, readManifest } from '../manifest';
import { mulberry32, sampleIndices, streamSeed } from '../sample';
import { loadTokenizer } from '../tokenizer';
import { CORPORA, caught, corpora, snapshot, TOKENIZER_DIR } from './helpers';

const tokenizer = loadTokenizer(TOKENIZER_DIR);
const yamlValue = YAML.parse(
  fs.readFileSync(corpora('corpus.yaml'), 'utf8')
) as Record<string, unknown>;

/** corpus.yaml with some top-level fields changed. */
function variant(changes: Record<string, unknown>) {
  return parseManifest({ ...yamlValue, ...changes }, 'variant', CORPORA);
}

/** Where each sampled document came from: the selection, comparable across runs. */
function selection(c: ReturnType<typeof loadCorpus>): string[][] {
  return c.dimensions.map(d =>
    d.documents.map(doc => `${doc.source.file}:${doc.source.line}`)
  );
}

describe('loadCorpus on the fixture corpus', () => {
  const corpus = loadCorpus(corpora('corpus.yaml'), tokenizer);

  it('samples each dimension down to `documents`, keeping the original order', () => {
    expect(corpus.manifest).toBe(corpora('corpus.yaml'));
    expect(corpus.truncation).toBe(64);
    expect(corpus.seed).toBe(0);
    expect(corpus.documentsPerDimension).toBe(8);
    expect(
      corpus.dimensions.map(d => [
        d.dimension,
        d.name,
        d.available,
        d.documents.length
      ])
    ).toEqual([
      ['language', 'de', 24, 8],
      ['domain', 'legal', 9, 8],
      ['task', 'qa', 12, 8]
    ]);
    for (const d of corpus.dimensions) {
      expect(d.documents.map(doc => doc.index)).toEqual([
        0, 1, 2, 3, 4, 5, 6, 7
      ]);
      expect(d.documents.every(doc => doc.dimension === d.dimension)).toBe(
        true
      );
      const lines = d.documents.map(doc => doc.source.line);
      expect([...lines].sort((a, b) => a - b)).toEqual(lines);
      expect(new Set(lines).size).toBe(lines.length);
    }
    expect(corpus.dimensions.map(d => d.sources)).toEqual([
      ['language/de.txt'],
      ['domain/legal.txt'],
      ['task/qa.jsonl']
    ]);
    expect(corpus.tokenizer).toEqual({
      sha256: tokenizer.sha256,
      vocabSize: 256,
      bosId: undefined
    });
  });

  it('tokenizes each document and truncates those longer than `truncation`, counting them', () => {
    const texts = readCorpusTexts(corpora('corpus.yaml'));
    corpus.dimensions.forEach((d, i) => {
      let truncated = 0;
      let tokens = 0;
      d.documents.forEach((doc, j) => {
        const text = texts[i].documents[j].text;
        const bytes = [...Buffer.from(text, 'utf8')];
        expect(doc.originalTokens).toBe(bytes.length);
        expect(doc.truncated).toBe(bytes.length > 64);
        expect(doc.tokens).toEqual(bytes.slice(0, 64));
        expect(doc.sha256).toBe(
          createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex')
        );
        truncated += doc.truncated ? 1 : 0;
        tokens += doc.tokens.length;
      });
      expect(d.truncated).toBe(truncated);
      expect(d.tokens).toBe(tokens);
    });
    // every legal block is longer than 64 bytes; some German lines are, some are not
    expect(corpus.dimensions.map(d => d.truncated)).toEqual([1, 8, 2]);
  });

  it('does not truncate a document of exactly `truncation` tokens', () => {
    const all = loadCorpus(variant({ documents: 100 }), tokenizer);
    const exact = all.dimensions[0].documents.filter(
      d => d.originalTokens === 64
    );
    expect(exact.map(d => d.source.line)).toEqual([2, 18]);
    expect(exact.every(d => !d.truncated && d.tokens.length === 64)).toBe(true);
    expect(all.dimensions[0].truncated).toBe(6);
  });

  it('hashes: a pinned corpus hash, equal for the JSON and YAML manifests, as documented', () => {
    expect(corpus.sha256).toBe(
      '7673d715dbc30fdd69fdb67f28a3a43d74fc60bc2c01bf00432ecbe6ba2f6eb8'
    );
    expect(loadCorpus(corpora('corpus.json'), tokenizer).sha256).toBe(
      corpus.sha256
    );
    let text = 'cusprun-corpus-v1\ntruncation 64\nseed 0\n';
    for (const d of corpus.dimensions) {
      text += `dimension ${d.dimension}\n`;
      for (const doc of d.documents) text += `${doc.sha256}\n`;
    }
    expect(corpus.sha256).toBe(sha256Hex(text));
    expect(corpusHash(corpus.dimensions, 64, 0)).toBe(corpus.sha256);
    expect(corpusHash(corpus.dimensions, 65, 0)).not.toBe(corpus.sha256);
    expect(corpusHash(corpus.dimensions, 64, 1)).not.toBe(corpus.sha256);
  });

  it('is deterministic: the same seed gives the same documents, ids and hashes', () => {
    const again = loadCorpus(readManifest(corpora('corpus.yaml')), tokenizer);
    expect(again).toEqual(corpus);
  });

  it('a different seed chooses different documents, and a different hash', () => {
    const other = loadCorpus(variant({ seed: 1 }), tokenizer);
    expect(selection(other)).not.toEqual(selection(corpus));
    expect(other.sha256).not.toBe(corpus.sha256);
    expect(selection(loadCorpus(variant({ seed: 1 }), tokenizer))).toEqual(
      selection(other)
    );
  });

  it('keeps every document, in order, when a dimension has no more than `documents`', () => {
    const all = loadCorpus(variant({ documents: 100 }), tokenizer);
    expect(all.dimensions.map(d => d.documents.length)).toEqual([24, 9, 12]);
    expect(all.dimensions[1].documents.map(d => d.source.line)).toEqual([
      1, 5, 9, 14, 19, 23, 27, 31, 34
    ]);
    // and then the seed does not matter
    const seeded = loadCorpus(variant({ documents: 100, seed: 7 }), tokenizer);
    expect(selection(seeded)).toEqual(selection(all));
  });

  it('truncation changes the tokens and the hash, not the choice of documents', () => {
    const long = loadCorpus(variant({ truncation: 1024 }), tokenizer);
    expect(selection(long)).toEqual(selection(corpus));
    expect(long.dimensions.map(d => d.truncated)).toEqual([0, 0, 0]);
    expect(long.sha256).not.toBe(corpus.sha256);
  });

  it('reads a folder of .txt and .jsonl files', () => {
    const medical = loadCorpus(corpora('medical.yaml'), tokenizer);
    const [d] = medical.dimensions;
    expect(d.sources).toEqual([
      'domain/medical/01-cardiology.txt',
      'domain/medical/02-notes.jsonl'
    ]);
    expect(
      d.documents.map(doc => `${doc.source.file}:${doc.source.line}`)
    ).toEqual([
      'domain/medical/01-cardiology.txt:1',
      'domain/medical/01-cardiology.txt:2',
      'domain/medical/01-cardiology.txt:3',
      'domain/medical/01-cardiology.txt:4',
      'domain/medical/02-notes.jsonl:1',
      'domain/medical/02-notes.jsonl:2',
      'domain/medical/02-notes.jsonl:4'
    ]);
    expect(d.truncated).toBe(0);
  });

  it('checks token ids against the model vocabulary when given', () => {
    expect(() =>
      loadCorpus(corpora('corpus.yaml'), tokenizer, { vocab: 256 })
    ).not.toThrow();
    // German text has UTF-8 bytes ≥ 128: a 128-token model cannot take them
    const error = caught(() =>
      loadCorpus(corpora('corpus.yaml'), tokenizer, { vocab: 128 })
    );
    expect(error.code).toBe('bad-argument');
    expect(error.subject).toBe(TOKENIZER_DIR);
    expect(error.message).toMatch(
      /token id \d+ \(in language\/de\.txt line \d+\) is past the model's vocabulary of 128/
    );
  });

  it('writes nothing', () => {
    const before = snapshot(CORPORA);
    loadCorpus(corpora('corpus.yaml'), tokenizer);
    loadCorpus(corpora('medical.yaml'), tokenizer);
    expect(snapshot(CORPORA)).toEqual(before);
    expect(fs.existsSync(path.join(CORPORA, '.cusprun'))).toBe(false);
  });
});

describe('seeded sampling', () => {
  it('mulberry32 is a fixed sequence in [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(xs.every(x => x >= 0 && x < 1)).toBe(true);
    expect(new Set(xs).size).toBe(1000);
  });

  it('streamSeed differs per seed and per dimension', () => {
    const seeds = new Set(
      [0, 1, 2].flatMap(s =>
        ['language', 'domain', 'task'].map(k => streamSeed(s, k))
      )
    );
    expect(seeds.size).toBe(9);
  });

  it('chooses k distinct indices, ascending, the same for the same seed', () => {
    for (const [n, k] of [
      [10, 3],
      [100, 64],
      [1000, 1],
      [5, 4]
    ]) {
      const s = sampleIndices(n, k, 3, 'language');
      expect(s).toHaveLength(k);
      expect(new Set(s).size).toBe(k);
      expect([...s].sort((a, b) => a - b)).toEqual(s);
      expect(s.every(i => i >= 0 && i < n)).toBe(true);
      expect(sampleIndices(n, k, 3, 'language')).toEqual(s);
    }
    expect(sampleIndices(5, 5, 0, 'x')).toEqual([0, 1, 2, 3, 4]);
    expect(sampleIndices(5, 9, 0, 'x')).toEqual([0, 1, 2, 3, 4]);
    expect(sampleIndices(100, 10, 0, 'x')).not.toEqual(
      sampleIndices(100, 10, 1, 'x')
    );
    expect(sampleIndices(100, 10, 0, 'x')).not.toEqual(
      sampleIndices(100, 10, 0, 'y')
    );
  });

  it('picks every index about equally often', () => {
    const counts = new Array(10).fill(0);
    for (let seed = 0; seed < 2000; seed++) {
      for (const i of sampleIndices(10, 3, seed, 'task')) counts[i]++;
    }
    // 600 expected per index; binomial sd ≈ 20
    for (const c of counts) {
      expect(c).toBeGreaterThan(500);
      expect(c).toBeLessThan(700);
    }
  });
});
