import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadTokenizer } from '../tokenizer';
import {
  caught,
  MODELS,
  removeScratch,
  scratch,
  snapshot,
  TOKENIZER_DIR
} from './helpers';

interface Reference {
  tokenizers: string;
  cases: { text: string; ids: number[] }[];
}

const reference = JSON.parse(
  fs.readFileSync(path.join(TOKENIZER_DIR, 'reference.json'), 'utf8')
) as Reference;
const tokenizerJson = fs.readFileSync(
  path.join(TOKENIZER_DIR, 'tokenizer.json'),
  'utf8'
);

function modelFolders(): string[] {
  const manifest = JSON.parse(
    fs.readFileSync(path.join(MODELS, 'manifest.json'), 'utf8')
  ) as { fixtures: { path: string }[] };
  return manifest.fixtures.map(f => path.join(MODELS, path.dirname(f.path)));
}

describe('the fixture tokenizer', () => {
  it('gives the ids the Python tokenizers library recorded', () => {
    const tok = loadTokenizer(TOKENIZER_DIR);
    expect(reference.cases.length).toBeGreaterThanOrEqual(8);
    for (const c of reference.cases) {
      expect(tok.encode(c.text)).toEqual(c.ids);
    }
  });

  it('is byte-level with 256 tokens: ids are the UTF-8 bytes, no BOS', () => {
    const tok = loadTokenizer(TOKENIZER_DIR);
    expect(tok.vocabSize).toBe(256);
    expect(tok.bosId).toBeUndefined();
    const text = 'Grüße aus Köln — 東京 🙂';
    expect(tok.encode(text)).toEqual([...Buffer.from(text, 'utf8')]);
    // Special-looking text is plain text: no added tokens exist.
    expect(tok.encode('<s></s>')).toEqual([...Buffer.from('<s></s>')]);
  });

  it('is in every fixture model folder, and loads from the folder or the model file', () => {
    const folders = modelFolders();
    expect(folders).toHaveLength(50);
    const expected = loadTokenizer(TOKENIZER_DIR);
    for (const folder of folders) {
      expect(fs.readFileSync(path.join(folder, 'tokenizer.json'), 'utf8')).toBe(
        tokenizerJson
      );
      const tok = loadTokenizer(folder);
      expect(tok.dir).toBe(folder);
      expect(tok.sha256).toBe(expected.sha256);
    }
    const fromFile = loadTokenizer(path.join(folders[0], 'model.onnx'));
    expect(fromFile.dir).toBe(folders[0]);
    expect(fromFile.encode(reference.cases[1].text)).toEqual(
      reference.cases[1].ids
    );
  });
});

describe('BOS from tokenizer_config.json', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach(removeScratch));
  const folder = (config: unknown) => {
    const dir = scratch({
      'tokenizer.json': tokenizerJson,
      'tokenizer_config.json': JSON.stringify(config)
    });
    dirs.push(dir);
    return dir;
  };

  it('prepends bos_token when add_bos_token is true (string or AddedToken object)', () => {
    // 'Ā' is byte 0's symbol, id 0, in the byte-level vocabulary.
    for (const bos of ['Ā', { content: 'Ā', __type: 'AddedToken' }]) {
      const tok = loadTokenizer(
        folder({ add_bos_token: true, bos_token: bos })
      );
      expect(tok.bosId).toBe(0);
      expect(tok.encode('Hi')).toEqual([0, 72, 105]);
    }
  });

  it('adds nothing when add_bos_token is false or absent, or with no config at all', () => {
    const noConfig = scratch({ 'tokenizer.json': tokenizerJson });
    dirs.push(noConfig);
    for (const dir of [
      folder({ add_bos_token: false, bos_token: 'Ā' }),
      folder({ bos_token: 'Ā' }),
      noConfig
    ]) {
      const tok = loadTokenizer(dir);
      expect(tok.bosId).toBeUndefined();
      expect(tok.encode('Hi')).toEqual([72, 105]);
    }
  });

  it('hashes both files: a different config gives a different tokenizer hash', () => {
    const a = loadTokenizer(folder({ add_bos_token: false }));
    const b = loadTokenizer(folder({ add_bos_token: false }));
    const c = loadTokenizer(folder({ add_bos_token: true, bos_token: 'Ā' }));
    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(a.sha256).toBe(b.sha256);
    expect(c.sha256).not.toBe(a.sha256);
  });

  it('rejects add_bos_token without a bos_token, or with one not in the vocabulary', () => {
    for (const [config, words] of [
      [{ add_bos_token: true }, 'bos_token is not set'],
      [
        { add_bos_token: true, bos_token: '<s>' },
        "'<s>' is not in tokenizer.json"
      ],
      [{ add_bos_token: 'yes' }, 'add_bos_token: expected true or false'],
      [{ add_bos_token: true, bos_token: 7 }, 'bos_token: expected a string']
    ] as const) {
      const dir = folder(config);
      const error = caught(() => loadTokenizer(dir));
      expect(error.code).toBe('bad-argument');
      expect(error.subject).toBe(path.join(dir, 'tokenizer_config.json'));
      expect(error.message).toContain(words);
    }
  });
});

describe('tokenizer errors', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach(removeScratch));
  const folder = (files: Record<string, string | Uint8Array>) => {
    const dir = scratch(files);
    dirs.push(dir);
    return dir;
  };

  it('a model folder without tokenizer.json: names the folder and what is expected', () => {
    const dir = folder({ 'model.onnx': 'x', 'config.json': '{}' });
    const before = snapshot(dir);
    const error = caught(() => loadTokenizer(dir));
    expect(error.code).toBe('not-found');
    expect(error.subject).toBe(dir);
    expect(error.message).toContain(dir);
    expect(error.message).toContain('no tokenizer.json in this model folder');
    expect(error.message).toContain('tokenizer_config.json');
    expect(snapshot(dir)).toEqual(before);
  });

  it('a folder that does not exist', () => {
    const error = caught(() => loadTokenizer('/no/such/model/folder'));
    expect(error.code).toBe('not-found');
    expect(error.message).toBe('/no/such/model/folder: no such model folder');
  });

  it('tokenizer.json or tokenizer_config.json that is not JSON', () => {
    const bad = folder({ 'tokenizer.json': '{"version": "1.0", ' });
    let error = caught(() => loadTokenizer(bad));
    expect(error.code).toBe('bad-argument');
    expect(error.subject).toBe(path.join(bad, 'tokenizer.json'));
    expect(error.message).toContain('not valid JSON');

    const badConfig = folder({
      'tokenizer.json': tokenizerJson,
      'tokenizer_config.json': 'add_bos_token: true'
    });
    error = caught(() => loadTokenizer(badConfig));
    expect(error.subject).toBe(path.join(badConfig, 'tokenizer_config.json'));
    expect(error.message).toContain('not valid JSON');

    const list = folder({ 'tokenizer.json': '[1, 2]' });
    expect(caught(() => loadTokenizer(list)).message).toContain(
      'not a JSON object'
    );
  });

  it('tokenizer.json that is not UTF-8', () => {
    const dir = folder({
      'tokenizer.json': Uint8Array.from([0x7b, 0x22, 0xff, 0x22, 0x7d])
    });
    const error = caught(() => loadTokenizer(dir));
    expect(error.subject).toBe(path.join(dir, 'tokenizer.json'));
    expect(error.message).toContain(
      'not valid UTF-8 (byte 0xff at byte offset 2)'
    );
  });

  it('JSON that is not a tokenizer the library can load', () => {
    const dir = folder({ 'tokenizer.json': '{"version": "1.0"}' });
    const error = caught(() => loadTokenizer(dir));
    expect(error.code).toBe('unsupported');
    expect(error.subject).toBe(path.join(dir, 'tokenizer.json'));
    expect(error.message).toContain('@huggingface/tokenizers');
  });
});
