/**
 * Where the cutover worker's Prometheus endpoint listens (`cutover worker --metrics`), and installing
 * the SDK runtime that serves it. Without the flag the worker takes 127.0.0.1:9464 when it is free and
 * any free port otherwise, and prints the address: several workers on one host (the way to scale cutover
 * out) each get their own. A port given explicitly is never swapped for another: a taken one is bad input
 * naming the flag and the fix.
 */
import { isIP } from 'node:net';
import { freePort } from '../stack/ports';
import { lazy } from '../lazy';
import type * as SdkWorker from '@temporalio/worker';

/** The endpoint's host and preferred port when `--metrics` is not given (Prometheus' conventional exporter port). */
export const DEFAULT_METRICS_HOST = '127.0.0.1';
export const DEFAULT_METRICS_PORT = 9464;

/** What `--metrics` asks for. */
export type MetricsSetting = { kind: 'auto' } | { kind: 'off' } | { kind: 'fixed'; host: string; port: number };

/** A `--metrics` value that cannot be used (malformed, or its port taken): bad input, exit 2, nothing started. */
export class MetricsAddressError extends Error {
  override readonly name = 'MetricsAddressError';
  constructor(
    /** The flag or option at fault, e.g. `--metrics`. */
    readonly field: string,
    message: string,
    /** What to do instead. */
    readonly hint: string,
  ) {
    super(`${field}: ${message} — fix: ${hint}`);
  }
}

/** `host:port` as the runtime takes it (an IPv6 host in brackets). */
export function formatMetricsAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Parses a `--metrics` value: absent or `auto`; `off`; or `host:port` with an IP address (the runtime binds
 * a socket address and resolves no names) and a port from 1 to 65535. Throws {@link MetricsAddressError}.
 */
export function parseMetricsFlag(value: string | undefined, field = '--metrics'): MetricsSetting {
  if (value === undefined) return { kind: 'auto' };
  const text = value.trim();
  if (text.toLowerCase() === 'auto') return { kind: 'auto' };
  if (text.toLowerCase() === 'off') return { kind: 'off' };
  const fix =
    `pass host:port with an IP address, e.g. ${field} ${DEFAULT_METRICS_HOST}:${DEFAULT_METRICS_PORT} ` +
    `(${field} 0.0.0.0:${DEFAULT_METRICS_PORT} for every interface), or ${field} off`;
  const m = /^\[([^\]]*)\]:([^:]*)$/.exec(text) ?? /^([^:[\]]*):([^:]*)$/.exec(text);
  if (!m) return bad(field, `"${value}" is not host:port`, fix);
  const [, host = '', portText = ''] = m;
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    return bad(field, `"${portText}" in "${value}" is not a port from 1 to 65535`, fix);
  }
  if (isIP(host) === 0) {
    return bad(
      field,
      `"${host}" in "${value}" is not an IP address (the metrics endpoint binds an address, not a name)`,
      host === 'localhost' ? `write ${field} 127.0.0.1:${portText}` : fix,
    );
  }
  return { kind: 'fixed', host, port: Number(portText) };
}

function bad(field: string, message: string, hint: string): never {
  throw new MetricsAddressError(field, message, hint);
}

/** True for the runtime's error when its Prometheus endpoint's port is taken (`Address already in use (os error 98)`). */
function addressInUse(err: unknown): boolean {
  return err instanceof Error && /address already in use|os error 98|EADDRINUSE/i.test(err.message);
}

/** What {@link installWorkerRuntime} did. */
export interface InstalledRuntime {
  /** `host:port` the Prometheus endpoint listens on; undefined with `off`. */
  address?: string;
  /** With `auto`: the preferred address, when it was taken and another port was chosen. */
  preferredTaken?: string;
}

/** How many free ports `auto` tries when each is taken between the check and the bind (another process won the race). */
const AUTO_ATTEMPTS = 5;

/**
 * Installs the SDK runtime (process-wide, once) with the worker's logger and, unless `off`, its Prometheus
 * endpoint. The bind is the runtime's own (its error is raw: `Address already in use (os error 98)`), so
 * the port is tried by installing: a failed install leaves no runtime behind, and `auto` moves on to a
 * free port. Throws {@link MetricsAddressError} for a fixed address that cannot be bound.
 */
export async function installWorkerRuntime(
  setting: MetricsSetting,
  opts: { logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR'; field?: string } = {},
): Promise<InstalledRuntime> {
  const field = opts.field ?? '--metrics';
  // Loaded here, not at the top: the CLI parses --metrics without paying for the worker runtime's load.
  const { DefaultLogger, Runtime } = lazy<typeof SdkWorker>(require, '@temporalio/worker');
  const install = (bindAddress?: string) =>
    Runtime.install({
      logger: new DefaultLogger(opts.logLevel ?? 'INFO'),
      ...(bindAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress } } } } : {}),
    });
  if (setting.kind === 'off') {
    install();
    return {};
  }
  if (setting.kind === 'fixed') {
    const address = formatMetricsAddress(setting.host, setting.port);
    try {
      install(address);
    } catch (err) {
      const orElse = `leave ${field} out to take a free one, or ${field} off`;
      if (addressInUse(err)) {
        const another = formatMetricsAddress(setting.host, setting.port === 65535 ? setting.port - 1 : setting.port + 1);
        const hint = `pass another port (e.g. ${field} ${another}), ${orElse}`;
        throw new MetricsAddressError(field, `${address} is already in use (another cutover worker on this host?)`, hint);
      }
      // Anything else the exporter refuses is about the address too (not this host's, a privileged port…).
      if (/prometheus/i.test((err as Error).message)) {
        const hint = `pass an address of this host (e.g. ${field} ${DEFAULT_METRICS_HOST}:${setting.port}), ${orElse}`;
        throw new MetricsAddressError(field, `cannot listen on ${address} (${(err as Error).message})`, hint);
      }
      throw err;
    }
    return { address };
  }
  const preferred = formatMetricsAddress(DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT);
  let address = preferred;
  for (let attempt = 1; ; attempt++) {
    try {
      install(address);
      return address === preferred ? { address } : { address, preferredTaken: preferred };
    } catch (err) {
      if (!addressInUse(err) || attempt >= AUTO_ATTEMPTS) throw err;
    }
    address = formatMetricsAddress(DEFAULT_METRICS_HOST, await freePort());
  }
}
