/** The model client is compiled once per user and client version, not once per .gg (model-dir.ts). */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { buildClient } from '../../src/frontend/infer/model-dir.js';
import { tempDir } from '../helpers/cli.js';

describe('buildClient', () => {
  it("a fresh .gg takes the client from the user's cache; one that others may write, or a link, is not used", () => {
    const home = tempDir('gg-client-user-');
    const realPath = process.env['PATH'] ?? '/usr/bin:/bin';
    const first = buildClient(path.join(tempDir('gg-client-a-'), 'infer'), realPath, home);
    assert.ok(first !== undefined && fs.existsSync(first), 'compiled with the host cc');
    const shared = path.join(home, path.basename(first));
    assert.ok(fs.readFileSync(shared).equals(fs.readFileSync(first)), "kept in the user's cache");
    // no compiler on this PATH: only the user's copy can give a second .gg its client
    const second = buildClient(path.join(tempDir('gg-client-b-'), 'infer'), '/nonexistent', home);
    assert.ok(second !== undefined && fs.readFileSync(second).equals(fs.readFileSync(first)));
    assert.equal(fs.statSync(second).mode & 0o111, 0o111, 'executable');
    fs.chmodSync(shared, 0o777);
    assert.equal(buildClient(path.join(tempDir('gg-client-c-'), 'infer'), '/nonexistent', home), undefined);
    // a link in its place, even to a good client, is not followed
    fs.rmSync(shared);
    fs.symlinkSync(first, shared);
    assert.equal(buildClient(path.join(tempDir('gg-client-d-'), 'infer'), '/nonexistent', home), undefined);
    // a good client in a directory others may write (they could have swapped it) is not used
    fs.rmSync(shared);
    fs.copyFileSync(first, shared);
    fs.chmodSync(shared, 0o755);
    assert.ok(buildClient(path.join(tempDir('gg-client-e-'), 'infer'), '/nonexistent', home), 'premise: usable');
    fs.chmodSync(home, 0o777);
    assert.equal(buildClient(path.join(tempDir('gg-client-f-'), 'infer'), '/nonexistent', home), undefined);
  });
});
