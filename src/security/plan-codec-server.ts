/**
 * The plan's codec server (`cutover codec-server`, and the one `cutover dev up` runs): the key ring, the
 * credentials, the origins and the limits of the plan's `codec` section, started with `startCodecServer`.
 */
import type { Plan } from '../config/types';
import {
  checkListen,
  checkOrigins,
  CodecServerInputError,
  codecServerAuthFrom,
  startCodecServer,
  type CodecServer,
  type CodecServerAuth,
} from './codec-server';
import { loadCodec, type LoadCodecOptions } from './load';

/** Options of {@link startPlanCodecServer}. */
export interface PlanCodecServerOptions {
  /** `host:port` in place of the plan's `codec.server.listen` (the `--listen` flag). */
  listen?: string;
  /** Origins allowed beside the plan's (`--origin`; `dev up` adds its own UIs). */
  extraOrigins?: string[];
  /** Where the token and env keys are read from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** One line per request and the start-up warnings. */
  log?: (line: string) => void;
  /** Receives the codec's per-key usage warnings. */
  logger?: LoadCodecOptions['logger'];
}

/** The running server and what it enforces, for the operator to read (never the token). */
export interface PlanCodecServer extends CodecServer {
  /** How requests authenticate: the variable the token was read from, or the JWKS (with aud and iss when set). */
  auth: { kind: 'token'; tokenEnv: string } | { kind: 'jwt'; jwksUrl: string; audience?: string; issuer?: string };
  origins: string[];
  includeCredentials: boolean;
  maxBodyBytes: number;
  /** Key IDs of the ring; `current` encrypts. */
  keyIds: string[];
  current: string;
  /** The sign-in page, when browsers sign in there (a bearer token and includeCredentials). */
  signInUrl?: string;
}

/**
 * Reads the plan's codec keys and the codec server's credentials, then starts the server with one key ring
 * for every namespace. Throws, before anything listens: {@link CodecServerInputError} for a plan without
 * `codec` or `codec.server`, a bad `listen`, an unset or short token or a bad origin (each naming the field
 * and the fix); `CodecKeyError` for keys that cannot be read.
 */
export async function startPlanCodecServer(plan: Plan, opts: PlanCodecServerOptions = {}): Promise<PlanCodecServer> {
  const config = plan.codec;
  if (!config) {
    throw new CodecServerInputError(
      'codec: the plan has no codec section, so there is nothing to decode with; add codec: { keys: [{ id: k1, env: ' +
        'CUTOVER_CODEC_K1 }], current: k1, server: { tokenEnv: CUTOVER_CODEC_TOKEN, origins: [http://127.0.0.1:8233] } }',
    );
  }
  const settings = config.server;
  if (!settings) {
    throw new CodecServerInputError(
      'codec.server: the plan does not configure the codec server; add server: { tokenEnv: CUTOVER_CODEC_TOKEN, ' +
        'origins: [<the Temporal UI origin>] } under codec',
    );
  }
  const listen = opts.listen ?? settings.listen;
  if (opts.listen !== undefined) checkListen(opts.listen, '--listen');
  if (opts.extraOrigins?.length) checkOrigins(opts.extraOrigins, '--origin');
  const env = opts.env ?? process.env;
  // Every problem of the keys before the credentials: both are the operator's to fix before a start.
  const codec = loadCodec(config, { env, logger: opts.logger });
  const auth: CodecServerAuth = codecServerAuthFrom(settings, env);
  const origins = [...new Set([...settings.origins, ...(opts.extraOrigins ?? [])])];
  const server = await startCodecServer({
    codecFor: () => codec,
    listen,
    auth,
    origins,
    includeCredentials: settings.includeCredentials,
    maxBodyBytes: settings.maxBodyBytes,
    listenField: opts.listen !== undefined ? '--listen' : 'codec.server.listen',
    log: opts.log,
  });
  return {
    ...server,
    auth:
      'token' in auth
        ? { kind: 'token', tokenEnv: settings.tokenEnv! }
        : { kind: 'jwt', jwksUrl: auth.jwksUrl, audience: auth.audience, issuer: auth.issuer },
    origins,
    includeCredentials: settings.includeCredentials,
    maxBodyBytes: settings.maxBodyBytes,
    keyIds: config.keys.map((k) => k.id),
    current: config.current,
    signInUrl: 'token' in auth && settings.includeCredentials ? `${server.url}/session` : undefined,
  };
}
