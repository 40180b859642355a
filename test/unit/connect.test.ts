import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ClusterCredentialsError, connectionOptions, namespaceOn } from '../../src/clusters/connect';

describe('cluster connection options', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'cutover-connect-'));
    writeFileSync(path.join(dir, 'ca.pem'), 'CA BYTES');
    writeFileSync(path.join(dir, 'client.pem'), 'CERT BYTES');
    writeFileSync(path.join(dir, 'client.key'), 'KEY BYTES');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a plain cluster is its address only', () => {
    assert.deepEqual(connectionOptions('legacy', { address: '127.0.0.1:7233' }), { address: '127.0.0.1:7233' });
  });

  it('reads the mTLS files the plan names', () => {
    const opts = connectionOptions('cloud', {
      address: 'acct.tmprl.cloud:7233',
      tls: {
        serverRootCACertPath: path.join(dir, 'ca.pem'),
        clientCertPath: path.join(dir, 'client.pem'),
        clientKeyPath: path.join(dir, 'client.key'),
        serverNameOverride: 'cloud.internal',
      },
    });
    assert.ok(typeof opts.tls === 'object' && opts.tls !== null);
    assert.equal(opts.tls.serverNameOverride, 'cloud.internal');
    assert.equal(opts.tls.serverRootCACertificate?.toString(), 'CA BYTES');
    assert.equal(opts.tls.clientCertPair?.crt.toString(), 'CERT BYTES');
    assert.equal(opts.tls.clientCertPair?.key.toString(), 'KEY BYTES');
    assert.equal(opts.apiKey, undefined);
  });

  it('a file that cannot be read is an error naming the cluster, the field and the path', () => {
    const missing = path.join(dir, 'absent.key');
    assert.throws(
      () => connectionOptions('cloud', { address: 'a:1', tls: { clientCertPath: path.join(dir, 'client.pem'), clientKeyPath: missing } }),
      (e: unknown) =>
        e instanceof ClusterCredentialsError &&
        e.cluster === 'cloud' &&
        e.field === 'tls.clientKeyPath' &&
        e.message.startsWith('clusters.cloud.tls.clientKeyPath: ') &&
        e.message.includes(missing),
    );
  });

  it('takes the API key from the environment variable the plan names, over TLS', () => {
    const env = 'CUTOVER_TEST_CONNECT_API_KEY';
    process.env[env] = 'secret-key';
    try {
      const opts = connectionOptions('cloud', { address: 'acct.tmprl.cloud:7233', apiKeyEnv: env });
      assert.deepEqual(opts, { address: 'acct.tmprl.cloud:7233', apiKey: 'secret-key', tls: true });
    } finally {
      delete process.env[env];
    }
    assert.throws(
      () => connectionOptions('cloud', { address: 'a:1', apiKeyEnv: env }),
      (e: unknown) =>
        e instanceof ClusterCredentialsError &&
        e.field === 'apiKeyEnv' &&
        e.message.startsWith(`clusters.cloud.apiKeyEnv: environment variable ${env} is not set`),
    );
  });

  it('names the namespace on a cluster with its Cloud suffix', () => {
    assert.equal(namespaceOn({ address: 'a:1', namespaceSuffix: '.a1b2c' }, 'payments'), 'payments.a1b2c');
    assert.equal(namespaceOn({ address: 'a:1' }, 'payments'), 'payments');
  });
});
