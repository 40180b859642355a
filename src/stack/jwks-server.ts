/**
 * The JWKS of a Cloud-shaped local cluster on loopback HTTP: `GET /jwks.json` answers the public keys of
 * the key-ring file as it is at that moment (re-read per request), so revoking an API key needs no
 * restart; the server drops the key at its next JWKS refresh. It must answer before temporal-server
 * starts: the server loads keys at start-up and otherwise only at its next refresh.
 *
 * Runs in-process (`JwksServer`) or as its own process (`cutover dev jwks`, spawned by
 * `startJwksProcess`) for `dev up`, whose servers outlive the command that started them.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { readJwks } from './api-keys';
import { PROJECT_ROOT } from './paths';
import { isListening } from './ports';
import { spawnLogged, type SpawnedProcess } from './processes';

/** Path of the JWKS on the server. */
export const JWKS_PATH = '/jwks.json';

/** A loopback HTTP server answering the JWKS of `keyFile`. */
export class JwksServer {
  private server: http.Server | undefined;

  constructor(
    readonly keyFile: string,
    private readonly wantPort = 0,
  ) {}

  /** Listens on 127.0.0.1 (the given port, or a free one). */
  async start(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== JWKS_PATH) {
        res.writeHead(404).end();
        return;
      }
      readJwks(this.keyFile).then(
        (jwks) => {
          res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(jwks));
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot read the key ring: ${(err as Error).message}`);
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.wantPort, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  get port(): number {
    if (!this.server) throw new Error('the JWKS server is not started');
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return jwksUrl(this.port);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The URL the server's `jwtKeyProvider.keySourceURIs` lists. */
export function jwksUrl(port: number): string {
  return `http://127.0.0.1:${port}${JWKS_PATH}`;
}

/**
 * Runs `cutover dev jwks --keys <file> --port <port>` as a child process and resolves once it answers.
 * `detached`: it outlives this process (`dev up`); otherwise it is killed when this process exits.
 */
export async function startJwksProcess(opts: {
  keyFile: string;
  port: number;
  logFile: string;
  detached: boolean;
  timeoutMs?: number;
}): Promise<SpawnedProcess> {
  const cli = path.join(PROJECT_ROOT, 'bin', 'cutover.js');
  const spawned = spawnLogged(process.execPath, [cli, 'dev', 'jwks', '--keys', opts.keyFile, '--port', String(opts.port)], {
    logFile: opts.logFile,
    cwd: PROJECT_ROOT,
    env: process.env,
    detached: opts.detached,
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (let wait = 50; ; wait = Math.min(wait * 2, 500)) {
    const child = spawned.child;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the JWKS server exited (${child.signalCode ?? `code ${child.exitCode}`}) before answering; see ${opts.logFile}`);
    }
    if ((await isListening('127.0.0.1', opts.port, 200)) && (await answers(jwksUrl(opts.port)))) return spawned;
    if (Date.now() > deadline) throw new Error(`the JWKS server did not answer on port ${opts.port} in time; see ${opts.logFile}`);
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return res.ok;
  } catch {
    return false;
  }
}
