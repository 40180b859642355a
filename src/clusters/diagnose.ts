/**
 * Why a connection failed below gRPC. The SDK's client reports every TLS problem as "Failed to connect
 * before the deadline" (grpc-js keeps the socket's error to itself), so when it says no more, cutover
 * repeats the handshake on a socket of its own, with the same CA, client certificate and server name,
 * and reads the error Node's TLS stack gives: unknown CA, wrong name, a server that does not speak TLS,
 * a client certificate required or refused. A plaintext connection is checked the other way round: if
 * the port answers a TLS handshake, the server wants TLS.
 */
import { isIP } from 'node:net';
import * as tls from 'node:tls';
import type { ClusterConnectionOptions, ConnectFailure } from './connect';

/** What the handshake showed: the failure it proves and the TLS stack's own words. */
export interface TransportVerdict {
  failure: ConnectFailure;
  detail: string;
}

const HTTP2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
/**
 * How long to wait for the server's verdict on our certificate after the handshake: in TLS 1.3 the
 * server checks the client certificate after the client's last handshake message, and its alert arrives
 * on the first read.
 */
const ALERT_WAIT_MS = 750;

const CA_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
]);
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);

/** `hungUp`: the server closed right after the handshake without a byte (an HTTP/2 server always sends its SETTINGS first). */
type Attempt = { ok: true; hungUp: boolean } | { ok: false; err: NodeJS.ErrnoException };

function split(address: string): { host: string; port: number } {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(address);
  return m ? { host: m[1]!, port: Number(m[2]) } : { host: address, port: 443 };
}

function attempt(opts: tls.ConnectionOptions, timeoutMs: number): Promise<Attempt> {
  return new Promise((resolve) => {
    let done = false;
    let secured = false;
    let answered = false;
    const socket = tls.connect(opts);
    const finish = (a: Attempt) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(a);
    };
    const timer = setTimeout(() => finish({ ok: false, err: Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' }) }), timeoutMs);
    socket.once('secureConnect', () => {
      secured = true;
      socket.write(HTTP2_PREFACE);
      setTimeout(() => finish({ ok: true, hungUp: false }), ALERT_WAIT_MS);
    });
    socket.on('data', () => (answered = true));
    socket.once('error', (err: NodeJS.ErrnoException) => finish({ ok: false, err }));
    socket.once('close', () =>
      finish(
        secured
          ? { ok: true, hungUp: !answered }
          : {
              ok: false,
              err: Object.assign(new Error('the server closed the connection during the TLS handshake'), { code: 'ECONNRESET' }),
            },
      ),
    );
  });
}

const said = (err: NodeJS.ErrnoException) => `${err.code ? `${err.code}: ` : ''}${err.message}`;

/**
 * Repeats the connection's TLS handshake (or tries one, for a plaintext connection) and says which
 * failure it proves; undefined when the transport looks fine, so the SDK's own error stands.
 */
export async function diagnoseTransport(options: ClusterConnectionOptions, timeoutMs = 3_000): Promise<TransportVerdict | undefined> {
  const { host, port } = split(options.address ?? '');
  // Node refuses an IP address as the TLS server name (SNI); it still checks the certificate against the IP.
  const sni = isIP(host) ? undefined : host;
  const buf = (b: Uint8Array | undefined) => (b ? Buffer.from(b) : undefined);
  if (!options.tls) {
    const a = await attempt(
      { host, port, ...(sni ? { servername: sni } : {}), rejectUnauthorized: false, ALPNProtocols: ['h2'] },
      timeoutMs,
    );
    if (a.ok) return { failure: 'tls-required', detail: 'the server completed a TLS handshake' };
    if (/alert number 116|certificate required/i.test(a.err.message)) {
      return { failure: 'tls-required', detail: 'the server answers TLS (and asks for a client certificate)' };
    }
    if (UNREACHABLE_CODES.has(a.err.code ?? '')) return { failure: 'unreachable', detail: said(a.err) };
    return undefined;
  }
  const t = options.tls === true ? {} : options.tls;
  const a = await attempt(
    {
      host,
      port,
      ...((t.serverNameOverride ?? sni) ? { servername: t.serverNameOverride ?? sni } : {}),
      ...(t.serverRootCACertificate ? { ca: buf(t.serverRootCACertificate) } : {}),
      ...(t.clientCertPair ? { cert: buf(t.clientCertPair.crt), key: buf(t.clientCertPair.key) } : {}),
      ALPNProtocols: ['h2'],
    },
    timeoutMs,
  );
  if (a.ok) {
    if (!a.hungUp) return undefined;
    // Some TLS stacks drop a client they refuse without an alert, right after the handshake.
    return t.clientCertPair
      ? { failure: 'client-certificate-refused', detail: 'the server hung up right after the TLS handshake' }
      : { failure: 'client-certificate-required', detail: 'the server hung up right after the TLS handshake' };
  }
  const { err } = a;
  const code = err.code ?? '';
  const text = said(err);
  if (UNREACHABLE_CODES.has(code)) return { failure: 'unreachable', detail: text };
  if (CA_CODES.has(code)) return { failure: 'unknown-ca', detail: text };
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return { failure: 'server-name', detail: text };
  if (/wrong version number|packet length too long|unknown protocol|record layer failure/i.test(text)) {
    return { failure: 'server-not-tls', detail: text };
  }
  if (/alert number 116|certificate required/i.test(text)) {
    return { failure: t.clientCertPair ? 'client-certificate-refused' : 'client-certificate-required', detail: text };
  }
  if (/alert number (42|43|44|45|46|48|49)|bad certificate|unknown ca|certificate (expired|revoked|unknown)/i.test(text)) {
    return { failure: 'client-certificate-refused', detail: text };
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID' || /SSL|TLS|alert/i.test(text)) {
    return { failure: 'tls-handshake', detail: text };
  }
  if (code === 'ECONNRESET') return { failure: 'server-not-tls', detail: text };
  return undefined;
}
