/** Finding 8: numbers out of range were wrapped or ignored (timeouts past 2^31-1 ms, -T, the Redis database). */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isGgError } from '../../src/errors.js';
import { openStore } from '../../src/store/open-store.js';
import { run } from '../helpers/cli.js';
import { force, jailSuite } from '../helpers/jail-thunks.js';
import { startRedis, type RunningServer } from '../helpers/servers.js';
import { rawThunk } from './helpers.js';

describe('security 8: numbers are range-checked where they are read', () => {
  const jail = jailSuite();
  let redis: RunningServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });

  it('--timeout 2147483648 and -T 99999999999999 are usage errors', () => {
    const t = rawThunk(jail.p, 'echo > out');
    const r1 = run(jail.p.dir, ['force', '--timeout', '2147483648', t], { env: { GG_DIR: jail.p.ggDir } });
    assert.equal(r1.status, 2, r1.stderr);
    assert.match(r1.stderr, /error\[GG_E_USAGE\].*--timeout/);
    const r2 = run(
      jail.p.dir,
      [
        'create-thunk',
        '-T',
        '99999999999999',
        '-e',
        jail.p.sh.name,
        '--output',
        'out',
        '--',
        jail.p.sh.name,
        'sh',
        '-c',
        'true',
      ],
      { env: { GG_DIR: jail.p.ggDir } },
    );
    assert.equal(r2.status, 2, r2.stderr);
    assert.match(r2.stderr, /error\[GG_E_USAGE\].*--timeout/);
  });

  it('a thunk whose own timeout is above 2^31-1 ms is invalid, not killed after 1 ms', async () => {
    const t = rawThunk(jail.p, 'echo > out', { timeout: 2 ** 31 });
    const r = await force(jail.rt, t);
    assert.equal(r.error?.code, 'GG_E_THUNK_INVALID', r.error?.message ?? 'forced');
  });

  it('redis://host/99 on a 16-database server is refused, not silently database 0', async () => {
    await assert.rejects(
      openStore(`redis://127.0.0.1:${redis.port}/99`, jail.p.store),
      (e: unknown) => isGgError(e) && /database 99|DB index/.test(e.message),
    );
  });
});
