/**
 * Temporal Cloud's rule for cutover: no operator API. Namespaces and search attributes on a `cloud` cluster
 * are created by the account's admins with `tcld` (or the Cloud Ops API), so cutover only verifies them,
 * and when one is missing it prints the exact `tcld` commands that create it.
 */
import type { ConnectionLike } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { SearchAttributeSpec } from './search-attributes';

type TcldType = SearchAttributeSpec[string];

const TYPE_OF_INDEXED: Record<number, TcldType> = {
  [temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT]: 'Text',
  [temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]: 'Keyword',
  [temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT]: 'Int',
  [temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE]: 'Double',
  [temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL]: 'Bool',
  [temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME]: 'Datetime',
  [temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST]: 'KeywordList',
};

/** The `tcld` type name of a server's indexed value type (Keyword when unknown). */
export function tcldType(indexed: number | string | null | undefined): TcldType {
  if (typeof indexed === 'string') return (indexed as TcldType) ?? 'Keyword';
  return TYPE_OF_INDEXED[indexed ?? 0] ?? 'Keyword';
}

/** How the namespace's clients authenticate on Cloud: chooses `--auth-method`. */
export type CloudAuth = 'api-key' | 'mtls';

const attributeFlags = (attributes: SearchAttributeSpec) =>
  Object.keys(attributes)
    .sort()
    .map((name) => ` --search-attribute "${name}=${attributes[name]}"`)
    .join('');

/**
 * `tcld namespace create` for a missing namespace, with its search attributes. The region (and the CA for
 * mTLS) are placeholders the admin fills in; the retention is the source's when known.
 */
export function tcldNamespaceCreate(
  namespace: string,
  opts: { attributes?: SearchAttributeSpec; retentionDays?: number; auth?: CloudAuth },
): string {
  const retention = opts.retentionDays !== undefined ? String(Math.max(1, Math.ceil(opts.retentionDays))) : '<N>';
  const auth = opts.auth === 'mtls' ? '--auth-method mtls --ca-certificate-file <ca.pem>' : '--auth-method api_key';
  return (
    `tcld namespace create --namespace ${namespace} --region <region> --retention-days ${retention} ${auth}` +
    attributeFlags(opts.attributes ?? {})
  );
}

/** `tcld namespace search-attributes add` for attributes missing from an existing namespace. */
export function tcldSearchAttributesAdd(namespace: string, attributes: SearchAttributeSpec): string {
  return `tcld namespace search-attributes add --namespace ${namespace}${attributeFlags(attributes)}`;
}

/** A cloud namespace, or search attributes in it, are missing: cutover does not create them there. */
export class CloudSetupError extends Error {
  override readonly name = 'CloudSetupError';
  constructor(
    readonly cluster: string,
    readonly namespace: string,
    /** What is missing: `namespace` or the attribute names. */
    readonly missing: string[],
    /** The `tcld` commands that create what is missing, in order. */
    readonly commands: string[],
    opts: { mayBeAccess?: boolean } = {},
  ) {
    super(
      `cluster ${cluster} (kind cloud): ` +
        (missing.includes('namespace')
          ? opts.mayBeAccess
            ? `namespace ${namespace} does not exist, or the key has no access to it (if it exists, give the key access); `
            : `namespace ${namespace} does not exist; `
          : `namespace ${namespace} lacks the search attributes ${missing.join(', ')}; `) +
        `cutover does not call Temporal Cloud's operator API — fix: create ${missing.includes('namespace') ? 'it' : 'them'} with\n` +
        commands.map((c) => `  ${c}`).join('\n'),
    );
  }
}

/**
 * Verifies that `namespace` exists on a cloud cluster with the `wanted` search attributes (describe and
 * list: both allowed to a namespace-scoped key); throws {@link CloudSetupError} with the `tcld` commands.
 */
export async function verifyCloudNamespace(
  connection: ConnectionLike,
  cluster: string,
  namespace: string,
  wanted: SearchAttributeSpec,
  opts: { auth?: CloudAuth; retentionDays?: number } = {},
): Promise<void> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
  } catch (err) {
    const code = (err as { code?: number }).code;
    // A per-namespace key is refused on a namespace it cannot see whether or not it exists (7 PERMISSION_DENIED).
    if (code === 5 /* NOT_FOUND */ || code === 7) {
      throw new CloudSetupError(cluster, namespace, ['namespace'], [tcldNamespaceCreate(namespace, { ...opts, attributes: wanted })], {
        mayBeAccess: code === 7,
      });
    }
    throw err;
  }
  const listed = await connection.operatorService.listSearchAttributes({ namespace });
  const have = new Set([...Object.keys(listed.customAttributes ?? {}), ...Object.keys(listed.systemAttributes ?? {})]);
  const missing = Object.keys(wanted)
    .filter((k) => !have.has(k))
    .sort();
  if (missing.length > 0) {
    throw new CloudSetupError(cluster, namespace, missing, [
      tcldSearchAttributesAdd(namespace, Object.fromEntries(missing.map((k) => [k, wanted[k]!]))),
    ]);
  }
}

/** The `--auth-method` a plan cluster's credentials call for: mTLS when it has a client certificate and no API key. */
export function cloudAuthOf(cluster: { apiKeyEnv?: string; apiKeyFile?: string; tls?: { clientCertPath?: string } }): CloudAuth {
  return !cluster.apiKeyEnv && !cluster.apiKeyFile && cluster.tls?.clientCertPath ? 'mtls' : 'api-key';
}
