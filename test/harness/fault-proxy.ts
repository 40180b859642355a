/**
 * A TCP fault proxy for the network-fault tests: one listener per upstream (a cluster's frontend, Redis),
 * forwarding bytes both ways until told to misbehave. Anything that speaks plain TCP goes through it
 * unchanged (gRPC, RESP), so a plan or client given `proxy.address` instead of the upstream's is all the
 * wiring a test needs.
 *
 *   - `cut()`: the link is refused: existing connections are reset (RST), and the listener is closed, so a
 *     new connection is refused by the kernel (ECONNREFUSED), as when the far side is down.
 *   - `blackhole()`: the link is silent, not refused: existing connections stay open and carry nothing,
 *     new ones are accepted and held. Nothing is lost: as TCP retransmits across a partition, whatever was
 *     sent in the meantime arrives once the link heals (held connections then reach the upstream).
 *   - `latency(ms)`: every chunk is delayed `ms` in each direction, in order (a request/response round
 *     trip takes `2 × ms` longer).
 *   - `heal()`: back to forwarding at once (the listener reopens on the same port after a cut).
 *
 * Written on `net` rather than an external proxy binary: nothing to build or download in CI. Node's
 * streams give the backpressure (a held connection stops reading, so the kernel's buffers fill and the
 * sender is slowed, as on a real link).
 */
import * as net from 'node:net';

/** What the link does now. */
export type FaultMode = 'pass' | 'cut' | 'blackhole';

/** One chunk waiting for its delivery time; `null` is the end of the stream (half-close). */
interface Pending {
  chunk: Buffer | null;
  at: number;
}

/** One direction of a connection: delivers chunks after the proxy's latency, in order, unless held. */
class Pipe {
  private readonly queue: Pending[] = [];
  private lastAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly proxy: FaultProxy,
    private readonly to: () => net.Socket | undefined,
  ) {}

  push(chunk: Buffer | null): void {
    // Never before an earlier chunk: lowering the latency must not reorder what is already queued.
    const at = Math.max(performance.now() + this.proxy.latencyMs, this.lastAt);
    this.lastAt = at;
    this.queue.push({ chunk, at });
    this.pump();
  }

  /** Delivers what is due, and sets a timer for the next chunk. */
  pump(): void {
    if (this.timer) return;
    for (;;) {
      const next = this.queue[0];
      const to = this.to();
      if (!next || this.proxy.mode !== 'pass' || !to || to.destroyed) return;
      const wait = next.at - performance.now();
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, wait);
        return;
      }
      this.queue.shift();
      if (next.chunk === null) to.end();
      else to.write(next.chunk);
    }
  }

  /** Drops the delivery timer (the connection is gone). */
  reset(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** One client connection and its upstream connection. */
class Link {
  upstream: net.Socket | undefined;
  private readonly up: Pipe;
  private readonly down: Pipe;
  private closed = false;

  constructor(
    private readonly proxy: FaultProxy,
    readonly client: net.Socket,
  ) {
    this.up = new Pipe(proxy, () => this.upstream);
    this.down = new Pipe(proxy, () => this.client);
    client.on('data', (b: Buffer) => this.up.push(b));
    client.on('end', () => this.up.push(null));
    client.on('error', () => this.close(false));
    client.on('close', () => this.close(false));
    if (proxy.mode === 'blackhole') client.pause();
    else this.connect();
  }

  /** Opens the upstream connection (at once, or when a held connection is released). */
  connect(): void {
    if (this.upstream || this.closed) return;
    // Half-open allowed both ways: an end is passed on in its turn, after the data queued before it.
    const up = net.connect({ host: this.proxy.upstreamHost, port: this.proxy.upstreamPort, allowHalfOpen: true });
    up.setNoDelay(true);
    this.upstream = up;
    up.on('data', (b: Buffer) => this.down.push(b));
    up.on('end', () => this.down.push(null));
    // An upstream that refuses or resets is passed on as a reset, so the client sees what it would directly.
    up.on('error', () => this.close(true));
    up.on('close', () => this.close(false));
    up.on('connect', () => this.up.pump());
  }

  /** Stops reading both ways (blackhole): data stays in the kernel's buffers and in the queues. */
  hold(): void {
    this.client.pause();
    this.upstream?.pause();
  }

  /** Resumes after a blackhole: connects a held connection, reads again, delivers what waited. */
  release(): void {
    this.connect();
    this.client.resume();
    this.upstream?.resume();
    this.up.pump();
    this.down.pump();
  }

  /** Resets both sockets (cut): the client sees ECONNRESET, not an orderly close. */
  reset(): void {
    this.closed = true;
    this.up.reset();
    this.down.reset();
    for (const s of [this.client, this.upstream]) if (s && !s.destroyed) s.resetAndDestroy();
    this.proxy.forget(this);
  }

  private close(resetClient: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.up.reset();
    this.down.reset();
    if (resetClient && !this.client.destroyed) this.client.resetAndDestroy();
    else this.client.destroy();
    this.upstream?.destroy();
    this.proxy.forget(this);
  }
}

/** A TCP proxy in front of one upstream, with faults to inject (see the file comment). */
export class FaultProxy {
  /** What the link does now. */
  mode: FaultMode = 'pass';
  /** Delay added to each chunk in each direction (ms). */
  latencyMs = 0;
  /** Connections accepted so far (tests: the traffic really went through the proxy). */
  accepted = 0;
  readonly upstreamHost: string;
  readonly upstreamPort: number;
  private readonly links = new Set<Link>();
  private server: net.Server | undefined;
  private port = 0;

  private constructor(readonly upstream: string) {
    const m = /^(.*):(\d+)$/.exec(upstream);
    if (!m) throw new Error(`fault proxy: upstream ${JSON.stringify(upstream)} is not host:port`);
    this.upstreamHost = m[1]!.replace(/^\[(.*)\]$/, '$1');
    this.upstreamPort = Number(m[2]);
  }

  /** Starts a proxy for `upstream` (`host:port`) on a free port of 127.0.0.1. */
  static async start(upstream: string): Promise<FaultProxy> {
    const p = new FaultProxy(upstream);
    await p.listen();
    return p;
  }

  /** `127.0.0.1:<port>`: give this to clients instead of the upstream's address. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Connections open through the proxy now. */
  get open(): number {
    return this.links.size;
  }

  /** Refuses the link: resets every connection and closes the listener (new connections: ECONNREFUSED). */
  async cut(): Promise<void> {
    this.mode = 'cut';
    for (const l of [...this.links]) l.reset();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Silences the link without refusing it: connections stay open, carry nothing, and new ones are held. */
  blackhole(): void {
    this.mode = 'blackhole';
    for (const l of this.links) l.hold();
  }

  /** Delays every chunk `ms` in each direction, keeping their order (0: none). */
  latency(ms: number): void {
    if (!(ms >= 0)) throw new Error(`fault proxy: latency must be ≥ 0 ms, got ${ms}`);
    this.latencyMs = ms;
  }

  /** Forwards again at once: no latency; held connections resume; after a cut the listener reopens. */
  async heal(): Promise<void> {
    const was = this.mode;
    this.mode = 'pass';
    this.latencyMs = 0;
    if (was === 'cut' || !this.server) await this.listen();
    for (const l of this.links) l.release();
  }

  /** Closes the listener and every connection. */
  async close(): Promise<void> {
    this.mode = 'cut';
    for (const l of [...this.links]) l.reset();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** @internal A link that closed. */
  forget(l: Link): void {
    this.links.delete(l);
  }

  private async listen(): Promise<void> {
    const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
      if (this.mode === 'cut') {
        socket.resetAndDestroy();
        return;
      }
      this.accepted++;
      this.links.add(new Link(this, socket));
    });
    // The same port after a cut: clients keep the address they were given, as with a host that comes back.
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }
}
