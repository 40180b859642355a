/** gRPC status codes the project tells apart (grpc-js is only a transitive dependency, so the numbers live here). */
import { isGrpcServiceError } from '@temporalio/client';

export const GrpcStatus = {
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** The status code of the first gRPC error in `err`'s cause chain (the SDK wraps them); undefined when there is none. */
export function grpcCode(err: unknown): number | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e; depth++) {
    if (isGrpcServiceError(e)) return e.code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
