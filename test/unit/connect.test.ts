import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ServiceError } from '@temporalio/client';
import {
  ClusterConnectError,
  ClusterCredentialsError,
  connectionOptions,
  credentialSource,
  explainClusterError,
  namespaceOn,
  redactSecrets,
  type ClusterAccess,
  type ConnectFailure,
} from '../../src/clusters/connect';
import { CloudSetupError, cloudAuthOf, tcldNamespaceCreate, tcldSearchAttributesAdd, tcldType } from '../../src/clusters/cloud-setup';

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

describe('cluster connection options: API key file', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'cutover-apikey-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the key from apiKeyFile (trimmed) and turns TLS on', () => {
    const file = path.join(dir, 'cloud.key');
    writeFileSync(file, 'file-secret-key\n');
    assert.deepEqual(connectionOptions('cloud', { address: 'a.tmprl.cloud:7233', apiKeyFile: file }), {
      address: 'a.tmprl.cloud:7233',
      apiKey: 'file-secret-key',
      tls: true,
    });
  });

  it('a missing or empty key file is a credentials error naming the field, not the key', () => {
    const missing = path.join(dir, 'absent.key');
    assert.throws(
      () => connectionOptions('cloud', { address: 'a:1', apiKeyFile: missing }),
      (e: unknown) => e instanceof ClusterCredentialsError && e.field === 'apiKeyFile' && e.failure === 'credentials-missing',
    );
    const empty = path.join(dir, 'empty.key');
    writeFileSync(empty, '  \n');
    assert.throws(
      () => connectionOptions('cloud', { address: 'a:1', apiKeyFile: empty }),
      (e: unknown) => e instanceof ClusterCredentialsError && /is empty/.test(e.message),
    );
  });

  it('credentialSource says where the credentials come from, never what they are', () => {
    process.env.CUTOVER_TEST_SOURCE_KEY = 'never-printed-key';
    try {
      assert.equal(credentialSource({ address: 'a:1', apiKeyEnv: 'CUTOVER_TEST_SOURCE_KEY' }), 'api key from $CUTOVER_TEST_SOURCE_KEY');
    } finally {
      delete process.env.CUTOVER_TEST_SOURCE_KEY;
    }
    assert.equal(credentialSource({ address: 'a:1', apiKeyFile: '/k' }), 'api key from file /k');
    assert.equal(
      credentialSource({ address: 'a:1', tls: { clientCertPath: '/c.pem', clientKeyPath: '/c.key' } }),
      'mTLS client certificate /c.pem',
    );
    assert.equal(credentialSource({ address: 'a:1', tls: { serverRootCACertPath: '/ca.pem' } }), 'TLS, no client credentials');
    assert.equal(credentialSource({ address: 'a:1' }), 'no credentials (plaintext)');
  });
});

/** A gRPC error as grpc-js makes it (code, details, metadata), wrapped the way the SDK's Connection.connect wraps it. */
function grpcError(code: number, details: string, wrap = false): Error {
  const status = [
    'OK',
    'CANCELLED',
    'UNKNOWN',
    'INVALID_ARGUMENT',
    'DEADLINE_EXCEEDED',
    'NOT_FOUND',
    'ALREADY_EXISTS',
    'PERMISSION_DENIED',
  ];
  const err = Object.assign(new Error(`${code} ${status[code] ?? 'UNAVAILABLE'}: ${details}`), { code, details, metadata: {} });
  return wrap ? new ServiceError('Failed to connect to Temporal server', { cause: err }) : err;
}

/** An error from the SDK's core (worker connections), as it reaches JavaScript. */
const transportError = (message: string) => Object.assign(new Error(message), { name: 'TransportError' });

describe('explainClusterError: real error shapes', () => {
  const KEY = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJwZXJtaXNzaW9ucyI6WyJwYXltZW50cy5hY2N0MTp3cml0ZSJdfQ.c2lnbmF0dXJlLWJ5dGVz';
  const withKey: ClusterAccess = {
    address: '127.0.0.1:7236',
    apiKeyEnv: 'CUTOVER_CLOUD_API_KEY',
    tls: { serverRootCACertPath: '/ca.pem' },
  };
  const withCert: ClusterAccess = {
    address: '127.0.0.1:7237',
    tls: { serverRootCACertPath: '/ca.pem', clientCertPath: '/c.pem', clientKeyPath: '/c.key' },
  };
  const tlsOnly: ClusterAccess = { address: '127.0.0.1:7237', tls: { serverRootCACertPath: '/ca.pem' } };
  const plain: ClusterAccess = { address: '127.0.0.1:7237' };

  const cases: { name: string; cluster: ClusterAccess; err: Error; phase: 'connect' | 'namespace'; want: ConnectFailure; says: RegExp }[] =
    [
      {
        name: 'worker, CA unknown (rustls)',
        cluster: tlsOnly,
        err: transportError(
          'tonic::transport::Error(Transport, ConnectError(Custom { kind: InvalidData, error: InvalidCertificate(UnknownIssuer) }))',
        ),
        phase: 'connect',
        want: 'unknown-ca',
        says: /tls\.serverRootCACertPath/,
      },
      {
        name: 'worker, certificate for another name (rustls)',
        cluster: tlsOnly,
        err: transportError(
          'tonic::transport::Error(Transport, ConnectError(Custom { kind: InvalidData, error: InvalidCertificate(NotValidForNameContext ' +
            '{ expected: DnsName("wrong.example"), presented: ["IpAddress(127.0.0.1)", "DnsName(\\"localhost\\")"] }) }))',
        ),
        phase: 'connect',
        want: 'server-name',
        says: /serverNameOverride/,
      },
      {
        name: 'worker, TLS to a plaintext server (rustls)',
        cluster: tlsOnly,
        err: transportError(
          'tonic::transport::Error(Transport, ConnectError(Custom { kind: InvalidData, error: InvalidMessage(InvalidContentType) }))',
        ),
        phase: 'connect',
        want: 'server-not-tls',
        says: /does not speak TLS/,
      },
      {
        name: 'worker, plaintext to a TLS server',
        cluster: plain,
        err: transportError(
          'Failed to call GetSystemInfo: code: \'Unknown error\', message: "transport error", source: ' +
            'tonic::transport::Error(Transport, hyper::Error(Io, Kind(ConnectionReset)))',
        ),
        phase: 'connect',
        want: 'tls-required',
        says: /expects TLS/,
      },
      {
        name: 'server says "tls: certificate required" (no client certificate)',
        cluster: tlsOnly,
        err: grpcError(
          14,
          'connection error: desc = "transport: authentication handshake failed: remote error: tls: certificate required"',
        ),
        phase: 'connect',
        want: 'client-certificate-required',
        says: /clientCertPath/,
      },
      {
        name: 'server says "tls: certificate required" to a foreign certificate',
        cluster: withCert,
        err: grpcError(14, 'remote error: tls: certificate required'),
        phase: 'connect',
        want: 'client-certificate-refused',
        says: /refused cutover's client certificate/,
      },
      {
        name: 'key refused at connect (GetSystemInfo: Request unauthorized.)',
        cluster: withKey,
        err: grpcError(7, 'Request unauthorized.', true),
        phase: 'connect',
        want: 'credentials-refused',
        says: /\$CUTOVER_CLOUD_API_KEY/,
      },
      {
        name: 'key without permission on the namespace',
        cluster: withKey,
        err: grpcError(7, 'Request unauthorized.'),
        phase: 'namespace',
        want: 'permission-denied',
        says: /lacks permission on namespace payments\.acct1/,
      },
      {
        name: 'a call without any credentials refused',
        cluster: tlsOnly,
        err: grpcError(7, 'Request unauthorized.'),
        phase: 'namespace',
        want: 'credentials-missing',
        says: /apiKeyEnv/,
      },
      {
        name: 'namespace missing',
        cluster: withKey,
        err: grpcError(5, 'Namespace payments.acct1 is not found.'),
        phase: 'namespace',
        want: 'namespace-not-found',
        says: /namespace payments\.acct1 does not exist/,
      },
      {
        name: 'nothing listening',
        cluster: plain,
        err: transportError(
          'tonic::transport::Error(Transport, ConnectError(ConnectError("tcp connect error", Os { code: 111, kind: ConnectionRefused })))',
        ),
        phase: 'connect',
        want: 'unreachable',
        says: /^cannot reach cluster cloud at 127\.0\.0\.1:7237: .*correct clusters\.cloud\.address/,
      },
    ];

  for (const c of cases) {
    it(c.name, () => {
      const e = explainClusterError('cloud', c.cluster, c.err, { phase: c.phase, namespace: 'payments.acct1', secrets: [KEY] });
      assert.ok(e instanceof ClusterConnectError);
      assert.equal(e.failure, c.want, e.message);
      assert.equal(e.cluster, 'cloud');
      assert.match(e.message, c.says);
      assert.match(e.message, / — fix: /);
      assert.doesNotMatch(e.message, /^\d+ [A-Z_]+:|PERMISSION_DENIED|UNAVAILABLE/, 'never a bare gRPC status');
      assert.equal(e.cause, c.err);
    });
  }

  it('blanks any bearer token, JWT or key text from the details it quotes', () => {
    const err = grpcError(2, `upstream said: authorization: Bearer ${KEY} was odd; raw key ${KEY}`);
    const e = explainClusterError('cloud', withKey, err, { phase: 'namespace', namespace: 'payments.acct1', secrets: [KEY] });
    assert.equal(e.failure, 'unclassified');
    assert.ok(!e.message.includes(KEY), e.message);
    assert.ok(!e.message.includes('c2lnbmF0dXJl'), e.message);
    assert.match(e.message, /Bearer \*\*\*/);
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEv...\n-----END PRIVATE KEY-----';
    assert.equal(redactSecrets(`key: ${pem} end`), 'key: *** end');
  });

  it('a ClusterConnectError passes through unchanged', () => {
    const first = explainClusterError('cloud', withKey, grpcError(7, 'Request unauthorized.', true), { phase: 'connect' });
    assert.equal(explainClusterError('other', plain, first, { phase: 'namespace' }), first);
  });
});

describe('Cloud setup: tcld commands', () => {
  it('namespace create, with region placeholder, retention, auth method and every search attribute', () => {
    assert.equal(
      tcldNamespaceCreate('payments.acct1', { attributes: { TenantId: 'Keyword', CutoverUnit: 'Keyword' }, retentionDays: 7 }),
      'tcld namespace create --namespace payments.acct1 --region <region> --retention-days 7 --auth-method api_key ' +
        '--search-attribute "CutoverUnit=Keyword" --search-attribute "TenantId=Keyword"',
    );
    assert.equal(
      tcldNamespaceCreate('payments.acct1', { auth: 'mtls' }),
      'tcld namespace create --namespace payments.acct1 --region <region> --retention-days <N> ' +
        '--auth-method mtls --ca-certificate-file <ca.pem>',
    );
  });

  it('search-attributes add, and the types the server reports', () => {
    assert.equal(
      tcldSearchAttributesAdd('payments.acct1', { CutoverUnit: 'Keyword', Amount: tcldType(3) }),
      'tcld namespace search-attributes add --namespace payments.acct1 ' +
        '--search-attribute "Amount=Int" --search-attribute "CutoverUnit=Keyword"',
    );
    assert.equal(tcldType(2), 'Keyword');
    assert.equal(tcldType(1), 'Text');
  });

  it('the auth method follows the credentials; the error carries the commands', () => {
    assert.equal(cloudAuthOf({ apiKeyEnv: 'K' }), 'api-key');
    assert.equal(cloudAuthOf({ tls: { clientCertPath: '/c.pem' } }), 'mtls');
    const e = new CloudSetupError('cloud', 'cutover.acct1', ['CutoverUnit'], ['tcld namespace search-attributes add …']);
    assert.match(e.message, /cluster cloud \(kind cloud\): namespace cutover\.acct1 lacks the search attributes CutoverUnit/);
    assert.match(e.message, /\n {2}tcld namespace search-attributes add/);
  });
});
