/**
 * NODE_EXTRA_CA_CERTS through the programs' launcher (scripts/bundle.mjs, src/store/tls-trust.ts): Node starts
 * without it (its ~50 ms parse at start is skipped), yet every TLS connection gg makes trusts the file's CAs,
 * and every child gg starts sees the variable as the user set it. Real TLS: a CA and a server certificate made
 * by openssl here, a real redis-server serving TLS on 127.0.0.1, the real programs run as a user runs them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GG, project, REPO, tempDir } from '../helpers/cli.js';
import { startRedis, type RunningServer } from '../helpers/servers.js';
import { ShellThunks } from '../helpers/shell-thunks.js';
import { writePlaceholder } from '../../src/ir/placeholder.js';
import { LocalStore } from '../../src/store/local-store.js';

const FORCE_AND_RUN = path.join(REPO, 'dist/bin/gg-force-and-run.js');
const TRUST = path.join(REPO, 'dist/src/store/tls-trust.js');

/** The environment without NODE_EXTRA_CA_CERTS (the machine's own may set it), plus `add`. */
function envWith(add: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GG_DIR: '' };
  delete env['NODE_EXTRA_CA_CERTS'];
  delete env['GG_TS_NODE_EXTRA_CA_CERTS'];
  return { ...env, ...add };
}

describe('NODE_EXTRA_CA_CERTS, moved aside by the launcher', () => {
  let dir: string;
  let ca: string;
  let redis: RunningServer;

  before(async () => {
    dir = tempDir('gg-tls-');
    const openssl = (...args: string[]): void => {
      const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=gg-tls-test-ca');
    openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=gg-tls-test-server');
    fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    openssl(
      ...['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'],
      ...['-out', 'server.crt', '-days', '1', '-extfile', 'san.ext'],
    );
    ca = path.join(dir, 'ca.crt');
    redis = await startRedis({ tls: { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') } });
  });
  after(async () => redis?.stop());

  it('gg trusts the extra CA on its TLS connections (rediss://); without the variable it refuses the server', () => {
    const p = project();
    const value = new LocalStore(path.join(p, '.gg')).putSync(Buffer.from('tls\n')).name;
    const force = (env: NodeJS.ProcessEnv) =>
      spawnSync(GG, ['force', '--json', '--storage', redis.uri, value], { cwd: p, env, encoding: 'utf8' });
    const trusted = force(envWith({ NODE_EXTRA_CA_CERTS: ca }));
    assert.equal(trusted.status, 0, trusted.stderr);
    assert.equal((JSON.parse(trusted.stdout) as { targets: { result: string }[] }).targets[0]!.result, value);
    const refused = force(envWith({}));
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /error\[GG_E_STORAGE_UNREACHABLE\].*certificate/);
  });

  it('gg starts Node without the variable, and a program it runs sees it as the user set it', () => {
    const p = project();
    const s = new ShellThunks(p);
    // The output is a script: run by gg-force-and-run after forcing, it reports its environment and the one its
    // parent (gg-force-and-run's Node) was started with.
    const script = [
      '#!/bin/sh',
      'echo "child: ${NODE_EXTRA_CA_CERTS-unset} ${GG_TS_NODE_EXTRA_CA_CERTS-unset}"',
      'echo "node started with: $(tr "\\\\0" "\\\\n" < /proc/$PPID/environ | grep -c "^NODE_EXTRA_CA_CERTS=")"',
    ].join('\n');
    const t = s.script(`cat > out <<'EOF'\n${script}\nEOF`);
    s.close();
    const placeholder = path.join(p, 'report');
    writePlaceholder(placeholder, t.name);
    const bin = tempDir('gg-tls-bin-');
    fs.symlinkSync(FORCE_AND_RUN, path.join(bin, 'gg-force-and-run')); // as npm links a package's bin
    const r = spawnSync(placeholder, [], {
      cwd: p,
      env: envWith({ NODE_EXTRA_CA_CERTS: ca, GG_SANDBOX: 'none', PATH: `${bin}:${process.env['PATH']}` }),
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `child: ${ca} unset\nnode started with: 0\n`);
  });

  /** Node, started the way the launcher starts it (the variable moved), making one TLS connection to the server. */
  function connect(o: { trust: boolean; file?: string }): { stdout: string; stderr: string } {
    const code = `
      const { adoptExtraCaCerts, trustExtraCaCerts } = await import(${JSON.stringify(TRUST)});
      const https = await import('node:https');
      adoptExtraCaCerts();
      if (${o.trust}) trustExtraCaCerts();
      // An https agent's socket (what the AWS SDK's clients use): the handshake is all this checks.
      const req = https.request({ host: '127.0.0.1', port: ${redis.port}, agent: new https.Agent() });
      req.on('socket', (s) => s.once('secureConnect', () => { console.log('trusted ' + process.env.NODE_EXTRA_CA_CERTS); process.exit(0); }));
      req.on('error', (e) => { console.log(e.code); process.exit(1); });
      req.end();`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
      env: envWith({ GG_TS_NODE_EXTRA_CA_CERTS: o.file ?? ca }),
      encoding: 'utf8',
    });
    return { stdout: r.stdout.trim(), stderr: r.stderr };
  }

  it('any TLS client of the process trusts the file once gg installs it; Node alone did not load it', () => {
    assert.equal(connect({ trust: true }).stdout, `trusted ${ca}`);
    assert.match(connect({ trust: false }).stdout, /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/);
  });

  it('an unreadable file is a warning and the bundled roots alone, as in Node', () => {
    const r = connect({ trust: true, file: path.join(dir, 'missing.crt') });
    assert.match(r.stdout, /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/);
    assert.match(r.stderr, /Ignoring extra certs from `.*missing\.crt`, load failed/);
  });
});
