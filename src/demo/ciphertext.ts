/**
 * The demo's evidence that payloads are encrypted: a workflow's history read raw (the gRPC API, no data
 * converter, no codec), searched for the plaintext of one of its inputs. The same payloads opened with the
 * codec must show that plaintext, so a check that finds nothing proves the text was there and is sealed,
 * not that the search looked in the wrong place.
 */
import type { ConnectionLike } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { type EncryptionCodec, isEncrypted, keyIdOf } from '../security';

/** What the raw read of one workflow's history showed. */
export interface CiphertextCheck {
  workflowId: string;
  events: number;
  /** Payloads sealed by the codec, and the key IDs they name. */
  encrypted: number;
  keyIds: string[];
  /** The plaintext occurs in the raw bytes of the history (it must not). */
  inRawHistory: boolean;
  /** The plaintext occurs in the payloads once the codec opened them (it must). */
  inDecoded: boolean;
}

/** Every event of the workflow's latest run, read page by page without a data converter. */
async function rawEvents(
  connection: ConnectionLike,
  namespace: string,
  workflowId: string,
): Promise<temporal.api.history.v1.IHistoryEvent[]> {
  const events: temporal.api.history.v1.IHistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const res = await connection.workflowService.getWorkflowExecutionHistory({ namespace, execution: { workflowId }, nextPageToken });
    events.push(...(res.history?.events ?? []));
    nextPageToken = res.nextPageToken?.length ? res.nextPageToken : undefined;
  } while (nextPageToken);
  return events;
}

/** Every payload in a tree of history events (anything with `metadata` and `data`). */
function payloadsIn(node: unknown, out: Payload[] = []): Payload[] {
  if (Array.isArray(node)) for (const x of node) payloadsIn(x, out);
  else if (node !== null && typeof node === 'object' && !(node instanceof Uint8Array)) {
    const o = node as Record<string, unknown>;
    if (o.data instanceof Uint8Array && o.metadata !== null && typeof o.metadata === 'object') out.push(o as Payload);
    else for (const v of Object.values(o)) payloadsIn(v, out);
  }
  return out;
}

/**
 * Reads the history of `workflowId` raw and says whether `plaintext` occurs in its encoded bytes, and in
 * its payloads once `codec` opened them.
 */
export async function checkCiphertext(opts: {
  connection: ConnectionLike;
  namespace: string;
  workflowId: string;
  plaintext: string;
  codec: EncryptionCodec;
}): Promise<CiphertextCheck> {
  const events = await rawEvents(opts.connection, opts.namespace, opts.workflowId);
  // The history as the server sends it, byte for byte: what anyone without the key gets.
  const raw = Buffer.from(temporal.api.history.v1.History.encode({ events }).finish());
  const needle = Buffer.from(opts.plaintext, 'utf8');
  const sealed = payloadsIn(events).filter(isEncrypted);
  const opened = await opts.codec.decode(sealed);
  return {
    workflowId: opts.workflowId,
    events: events.length,
    encrypted: sealed.length,
    keyIds: [...new Set(sealed.map((p) => keyIdOf(p)).filter((id): id is string => id !== undefined))],
    inRawHistory: raw.includes(needle),
    inDecoded: opened.some((p) => p.data !== undefined && p.data !== null && Buffer.from(p.data).includes(needle)),
  };
}
