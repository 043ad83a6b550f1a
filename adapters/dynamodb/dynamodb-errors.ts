import { concurrentUpdate, recordTooLarge, storeBusy } from '../../core/metadata-store-base.js';

/**
 * Recognizing DynamoDB's errors by name rather than by class: the document client and the low-level
 * client may come from different copies of the SDK, and `instanceof` fails across copies.
 */

interface SdkErrorShape {
  name?: string;
  message?: string;
  CancellationReasons?: { Code?: string; Item?: Record<string, { S?: string } | undefined> }[];
  Item?: Record<string, { S?: string } | undefined>;
}

const shape = (e: unknown): SdkErrorShape =>
  e !== null && typeof e === 'object' ? (e as SdkErrorShape) : {};

export const isConditionFailed = (e: unknown): boolean => shape(e).name === 'ConditionalCheckFailedException';

/** The per-item reason codes of a cancelled transaction, in request order; undefined for any other error. */
export function cancellationCodes(e: unknown): (string | undefined)[] | undefined {
  const err = shape(e);
  if (err.name !== 'TransactionCanceledException') return undefined;
  return (err.CancellationReasons ?? []).map((r) => r.Code);
}

/** A transaction cancelled only by contention (another transaction on the same items, throttling): retry it. */
export const isTransient = (codes: readonly (string | undefined)[]): boolean =>
  codes.some(
    (c) => c === 'TransactionConflict' || c === 'ThrottlingError' || c === 'ProvisionedThroughputExceeded',
  );

/** The `status` of the item a failed condition saw (ReturnValuesOnConditionCheckFailure ALL_OLD), if it existed. */
export function oldStatusOf(e: unknown): string | undefined {
  return shape(e).Item?.status?.S;
}

/** The `status` of the item transaction item `index` saw when its condition failed (ALL_OLD), if any. */
export function cancelledItemStatus(e: unknown, index: number): string | undefined {
  return shape(e).CancellationReasons?.[index]?.Item?.status?.S;
}

const THROTTLED = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
]);

/** Maps the SDK errors callers can act on to RegistryErrors; anything else is a bug and is rethrown as is. */
export function mapSdkError(e: unknown): unknown {
  const err = shape(e);
  if (err.name && THROTTLED.has(err.name)) return storeBusy('DynamoDB', err.name);
  if (err.name === 'ValidationException' && /item size/i.test(err.message ?? ''))
    return recordTooLarge('DynamoDB', '400 KB', err.message);
  if (err.name === 'TransactionCanceledException' || err.name === 'ConditionalCheckFailedException')
    return concurrentUpdate(err.message ?? err.name);
  return e;
}
