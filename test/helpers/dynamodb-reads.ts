import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

const READ_COMMANDS = new Set(['GetItemCommand', 'QueryCommand', 'BatchGetItemCommand', 'ScanCommand']);

/** What a client read from DynamoDB: requests by command, and the read capacity units the server charged. */
export interface ReadTally {
  requests: number;
  readUnits: number;
  byCommand: Record<string, number>;
}

/**
 * A document client on `endpoint` (DynamoDB Local, shared database) that counts every read it sends and
 * asks the server for the capacity each consumed (ReturnConsumedCapacity TOTAL), as DynamoDB bills it.
 */
export function countingDocClient(endpoint: string): {
  readonly doc: DynamoDBDocumentClient;
  readonly reads: ReadTally;
  reset(): void;
  destroy(): void;
} {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const reads: ReadTally = { requests: 0, readUnits: 0, byCommand: {} };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? '';
      if (!READ_COMMANDS.has(command)) return next(args);
      (args.input as { ReturnConsumedCapacity?: string }).ReturnConsumedCapacity = 'TOTAL';
      const out = await next(args);
      reads.requests += 1;
      reads.byCommand[command] = (reads.byCommand[command] ?? 0) + 1;
      const consumed = (
        out.output as { ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[] }
      ).ConsumedCapacity;
      for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : [])
        reads.readUnits += c.CapacityUnits ?? 0;
      return out;
    },
    { step: 'initialize', name: 'countReads' },
  );
  return {
    doc: DynamoDBDocumentClient.from(client),
    reads,
    reset() {
      reads.requests = 0;
      reads.readUnits = 0;
      reads.byCommand = {};
    },
    destroy: () => client.destroy(),
  };
}
