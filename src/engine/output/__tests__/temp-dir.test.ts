import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeTempDir, removeTempDir } from '../temp-dir';

let parent: string;
beforeEach(() => {
  parent = fs.mkdtempSync(path.join(os.tmpdir(), 'cusprun-temp-dir-test-'));
});
afterEach(() => fs.rmSync(parent, { recursive: true, force: true }));

describe('cusprun temporary folders', () => {
  it('names a folder with the pid and removes it on request', () => {
    const dir = makeTempDir('cusprun-x-', parent);
    expect(path.basename(dir)).toMatch(
      new RegExp(`^cusprun-x-${process.pid}-[A-Za-z0-9]{6}$`)
    );
    removeTempDir(dir);
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it("removes a dead process's folders, and only those", () => {
    const exited = spawnSync(process.execPath, ['-e', '0']).pid;
    const names = [
      `cusprun-x-${exited}-AbC123`, // its process is gone: cusprun's leftover
      `cusprun-x-${process.ppid}-AbC123`, // a live process's
      `cusprun-x-notes`, // not a name cusprun gives
      `other-${exited}-AbC123` // another prefix
    ];
    names.forEach(n => fs.mkdirSync(path.join(parent, n)));
    const dir = makeTempDir('cusprun-x-', parent);
    expect(fs.readdirSync(parent).sort()).toEqual(
      [...names.slice(1), path.basename(dir)].sort()
    );
    removeTempDir(dir);
  });
});
