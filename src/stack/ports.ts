/** Ports on 127.0.0.1: free ones to listen on, and whether something listens. */
import * as net from 'node:net';

/** A port a server needs is taken by another process. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(
    readonly port: number,
    readonly field: string,
  ) {
    super(`${field}: port ${port} on 127.0.0.1 is already in use; stop what holds it or choose another port`);
  }
}

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Binds 127.0.0.1:`port`; resolves with the listening server, or undefined when the port is taken. */
function bind(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const release = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** True when nothing listens on 127.0.0.1:`port` (it could be bound a moment ago). */
export async function isPortFree(port: number): Promise<boolean> {
  const server = await bind(port);
  if (server) await release(server);
  return server !== undefined;
}

/**
 * `count` distinct ports of `range` that were free a moment ago on 127.0.0.1, avoiding `avoid`. Every
 * chosen port stays bound until all are chosen, so none is handed out twice.
 */
export async function freePorts(count: number, range: { min: number; max: number }, avoid: readonly number[] = []): Promise<number[]> {
  const taken = new Set(avoid);
  const ports: number[] = [];
  const servers: net.Server[] = [];
  const span = range.max - range.min + 1;
  let candidate = range.min + Math.floor(Math.random() * span);
  try {
    for (let tried = 0; ports.length < count; tried++) {
      if (tried >= span) throw new PortInUseError(range.min, `ports (no ${count} free ports in ${range.min}-${range.max})`);
      candidate = candidate >= range.max ? range.min : candidate + 1;
      if (taken.has(candidate)) continue;
      const server = await bind(candidate);
      if (!server) continue;
      servers.push(server);
      taken.add(candidate);
      ports.push(candidate);
    }
  } finally {
    await Promise.all(servers.map(release));
  }
  return ports;
}

/** True when something accepts TCP connections on host:port. */
export function isListening(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Splits `host:port`; throws on anything else. */
export function splitAddress(address: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(address);
  if (!m) throw new Error(`address "${address}" is not host:port`);
  return { host: m[1]!, port: Number(m[2]) };
}
