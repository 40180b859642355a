/**
 * The harness's TCP fault proxy on its own, in front of a local echo server: it forwards both ways; `cut`
 * resets what is open and refuses what comes; `blackhole` holds connections open and silent, and loses
 * nothing once healed; `latency` delays each direction, in order. Timings are read on a monotonic clock.
 */
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { FaultProxy } from '../harness/fault-proxy';

/** A client connection that collects what it receives. */
class Conn {
  readonly socket: net.Socket;
  received = '';
  error: NodeJS.ErrnoException | undefined;
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (b: Buffer) => {
      this.received += b.toString();
      this.wake();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.error = e;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(address: string): Promise<Conn> {
    const [host, port] = address.split(':');
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port: Number(port) });
      s.once('connect', () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }

  /** Resolves once `pred` holds; rejects after `ms`. */
  until(pred: () => boolean, ms: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`timed out after ${ms} ms waiting for ${what} (got ${JSON.stringify(this.received)})`)),
        ms,
      );
      const check = () => {
        if (!pred()) return this.waiters.push(check);
        clearTimeout(t);
        resolve();
      };
      check();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fault proxy (local echo server)', function () {
  this.timeout(10_000);
  let echo: net.Server;
  let proxy: FaultProxy;
  const conns: Conn[] = [];
  const open = async () => {
    const c = await Conn.open(proxy.address);
    conns.push(c);
    return c;
  };

  before(async () => {
    echo = net.createServer((s) => {
      s.on('error', () => undefined); // the proxy resets its side on a cut
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  });
  beforeEach(async () => {
    proxy = await FaultProxy.start(`127.0.0.1:${(echo.address() as net.AddressInfo).port}`);
  });
  afterEach(async () => {
    for (const c of conns.splice(0)) c.socket.destroy();
    await proxy.close();
  });
  after(() => new Promise<void>((r) => echo.close(() => r())));

  it('forwards both ways', async () => {
    const c = await open();
    c.socket.write('hello');
    await c.until(() => c.received === 'hello', 2_000, 'the echo');
    assert.equal(proxy.accepted, 1);
  });

  it('cut: resets open connections and refuses new ones; heal reopens the same address', async () => {
    const c = await open();
    c.socket.write('a');
    await c.until(() => c.received === 'a', 2_000, 'the echo');
    const address = proxy.address;
    await proxy.cut();
    await c.until(() => c.closed, 2_000, 'the reset');
    assert.equal(c.error?.code, 'ECONNRESET');
    await assert.rejects(Conn.open(address), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
    await proxy.heal();
    assert.equal(proxy.address, address);
    const d = await open();
    d.socket.write('back');
    await d.until(() => d.received === 'back', 2_000, 'the echo after the heal');
  });

  it('blackhole: accepts and holds, forwards nothing, resets nothing; heal delivers everything, in order', async () => {
    const c = await open();
    c.socket.write('1');
    await c.until(() => c.received === '1', 2_000, 'the echo');
    proxy.blackhole();
    c.socket.write('2');
    const held = await open(); // accepted: not refused
    held.socket.write('x');
    await sleep(300);
    assert.equal(c.received, '1', 'nothing through while blackholed');
    assert.equal(held.received, '');
    assert.ok(!c.closed && !held.closed && !c.error && !held.error, 'no reset, no close');
    c.socket.write('3');
    await proxy.heal();
    await c.until(() => c.received === '123', 2_000, 'what was sent during the blackhole');
    await held.until(() => held.received === 'x', 2_000, 'the held connection to reach the upstream');
  });

  it('latency: delays each direction, keeps the order, and heal stops delaying new data', async () => {
    const c = await open();
    proxy.latency(150);
    const t0 = performance.now();
    for (const ch of 'abcdef') c.socket.write(ch);
    await c.until(() => c.received === 'abcdef', 3_000, 'the delayed echo');
    const rtt = performance.now() - t0;
    // Out and back: twice the latency, in order.
    assert.ok(rtt >= 300, `round trip ${rtt.toFixed(0)} ms ≥ 2 × 150 ms`);
    await proxy.heal();
    const t1 = performance.now();
    c.socket.write('g');
    await c.until(() => c.received === 'abcdefg', 2_000, 'the echo after the heal');
    assert.ok(performance.now() - t1 < 150, 'no delay once healed');
  });
});
