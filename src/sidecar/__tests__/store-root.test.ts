import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findStore, storeRoot } from '../run-store';

describe('the run store a sidecar uses by default', () => {
  let root: string;
  let saved: string | undefined;
  beforeEach(() => {
    root = fs.realpathSync(
      fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-store-'))
    );
    saved = process.env.CUSPRUN_STORE;
    delete process.env.CUSPRUN_STORE;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.CUSPRUN_STORE;
    else process.env.CUSPRUN_STORE = saved;
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('is the nearest existing .cusprun from the working folder up, as git finds a repo', () => {
    const deep = path.join(root, 'notebooks', 'week1');
    fs.mkdirSync(deep, { recursive: true });
    fs.mkdirSync(path.join(root, '.cusprun'));
    expect(findStore(deep)).toBe(path.join(root, '.cusprun'));
    expect(storeRoot(undefined, deep)).toBe(path.join(root, '.cusprun'));
    // a nearer one wins
    fs.mkdirSync(path.join(root, 'notebooks', '.cusprun'));
    expect(storeRoot(undefined, deep)).toBe(
      path.join(root, 'notebooks', '.cusprun')
    );
  });

  it('is .cusprun in the working folder when none exists above (a file of that name is no store)', () => {
    fs.writeFileSync(path.join(root, '.cusprun'), 'not a folder');
    const sub = path.join(root, 'sub');
    fs.mkdirSync(sub);
    // only when no ancestor of the temp folder holds a store of its own
    if (findStore(path.dirname(root)) === undefined) {
      expect(findStore(sub)).toBeUndefined();
      expect(storeRoot(undefined, sub)).toBe(path.join(sub, '.cusprun'));
    }
  });

  it('is --store, else CUSPRUN_STORE, relative to the working folder, before any search', () => {
    fs.mkdirSync(path.join(root, '.cusprun'));
    const sub = path.join(root, 'sub');
    fs.mkdirSync(sub);
    expect(storeRoot('runs', sub)).toBe(path.join(sub, 'runs'));
    process.env.CUSPRUN_STORE = '/abs/store';
    expect(storeRoot(undefined, sub)).toBe('/abs/store');
    expect(storeRoot('mine', sub)).toBe(path.join(sub, 'mine'));
    process.env.CUSPRUN_STORE = '';
    expect(storeRoot(undefined, sub)).toBe(path.join(root, '.cusprun'));
  });
});
