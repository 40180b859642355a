/**
 * Certificates for the Cloud-shaped local cluster, made with the `openssl` CLI (a well-kept tool
 * instead of hand-written ASN.1): a CA, a server certificate valid for 127.0.0.1 and localhost, a client
 * certificate (clientAuth) for mTLS, and a second CA for the server's internal-frontend, so that only the
 * server's own services (which hold a certificate of that CA) reach the door that skips authorization.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** A certificate and its private key (PEM files; the key is mode 0600). */
export interface CertFiles {
  certPath: string;
  keyPath: string;
}

/** Everything a Cloud-shaped cluster's front door and its clients need. */
export interface ClusterPki {
  /** The CA clients trust (`tls.serverRootCACertPath`) and that signs client certificates. */
  ca: CertFiles;
  /** The frontend's certificate: SAN IP:127.0.0.1 and DNS:localhost. */
  server: CertFiles;
  /** A client certificate (clientAuth) for mTLS. */
  client: CertFiles;
  /** The internal-frontend's own CA and the certificate every service of the server uses with it. */
  internalCa: CertFiles;
  internal: CertFiles;
}

/** `openssl` is not installed, or a step failed; the message names the command and the fix. */
export class PkiError extends Error {
  override readonly name = 'PkiError';
}

const DAYS = 825;
const SAN = 'IP:127.0.0.1,DNS:localhost';

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: 60_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return reject(new PkiError('openssl is not installed: the Cloud-shaped cluster mints its certificates with it; install openssl'));
      }
      reject(new PkiError(`openssl ${args[0]} failed: ${String(stderr).trim() || err.message}`));
    });
  });
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

/** A self-signed CA in `<dir>/<name>.pem` + `<name>.key`; kept as is when both files exist. */
export async function createCa(dir: string, name: string, commonName: string): Promise<CertFiles> {
  const files = { certPath: path.join(dir, `${name}.pem`), keyPath: path.join(dir, `${name}.key`) };
  if ((await exists(files.certPath)) && (await exists(files.keyPath))) return files;
  await fs.mkdir(dir, { recursive: true });
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-days',
      String(DAYS),
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout',
      files.keyPath,
      '-out',
      files.certPath,
    ],
    dir,
  );
  await fs.chmod(files.keyPath, 0o600);
  return files;
}

/** What a certificate is for: its extended key usage (and, for servers, the loopback SAN). */
export type CertUsage = 'server' | 'client' | 'server+client';

/** An X.509 v3 certificate signed by `ca` in `<dir>/<name>.pem` + `<name>.key`; kept when both exist. */
export async function issueCert(ca: CertFiles, dir: string, name: string, commonName: string, usage: CertUsage): Promise<CertFiles> {
  const files = { certPath: path.join(dir, `${name}.pem`), keyPath: path.join(dir, `${name}.key`) };
  if ((await exists(files.certPath)) && (await exists(files.keyPath))) return files;
  await fs.mkdir(dir, { recursive: true });
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  const eku = { server: 'serverAuth', client: 'clientAuth', 'server+client': 'serverAuth,clientAuth' }[usage];
  await fs.writeFile(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${eku}`,
      ...(usage === 'client' ? [] : [`subjectAltName=${SAN}`]),
      '',
    ].join('\n'),
  );
  try {
    await openssl(
      ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${commonName}`, '-keyout', files.keyPath, '-out', csr],
      dir,
    );
    await fs.chmod(files.keyPath, 0o600);
    await openssl(
      [
        'x509',
        '-req',
        '-sha256',
        '-in',
        csr,
        '-CA',
        ca.certPath,
        '-CAkey',
        ca.keyPath,
        // A random serial: no serial file to keep, and no two certificates of one CA share a serial.
        '-set_serial',
        `0x${randomBytes(16).toString('hex')}`,
        '-days',
        String(DAYS),
        '-extfile',
        ext,
        '-out',
        files.certPath,
      ],
      dir,
    );
  } finally {
    await Promise.all([fs.rm(csr, { force: true }), fs.rm(ext, { force: true })]);
  }
  return files;
}

/**
 * The certificates of one Cloud-shaped cluster under `dir`, minted on first use and kept afterwards, so
 * clients configured once keep working across `dev up` / `dev down`.
 */
export async function ensureClusterPki(dir: string): Promise<ClusterPki> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = await createCa(dir, 'ca', 'cutover local Cloud-shaped CA');
  const server = await issueCert(ca, dir, 'server', 'localhost', 'server');
  const client = await issueCert(ca, dir, 'client', 'cutover', 'client');
  const internalCa = await createCa(dir, 'internal-ca', 'cutover local internal CA');
  const internal = await issueCert(internalCa, dir, 'internal', 'localhost', 'server+client');
  return { ca, server, client, internalCa, internal };
}
