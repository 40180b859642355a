/**
 * gRPC channel settings for cutover's client connections.
 *
 * The SDK means to let a client receive messages up to 128 MiB, but sets grpc-js's option under a name
 * grpc-js does not read (`max_receive_message_length`, without the `grpc.` prefix; @temporalio/client
 * 1.24), so a client keeps gRPC's 4 MiB default. A page of history larger than that — a campaign run at
 * 10,000 tenants carries ~4.4 MiB — then fails with `RESOURCE_EXHAUSTED: Received message larger than
 * max`. Workers connect through the SDK's core, which has its own limit, and are not affected.
 */
export const CLIENT_CHANNEL_ARGS = { 'grpc.max_receive_message_length': 128 * 1024 * 1024 } as const;
