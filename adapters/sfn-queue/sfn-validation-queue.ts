/**
 * ValidationQueue on AWS: one Step Functions execution per validation request, with input
 * `{"model","version"}`. The state machine runs the validator task, which claims the version with a
 * conditional write, so an extra execution for the same version is harmless: it finds nothing to claim.
 *
 * Execution names make enqueue idempotent: the name is derived from the version and a time window
 * (default 60 s), so a retried request (a Lambda retry, a client repeating a commit) within the window
 * starts no second execution. Step Functions answers a StartExecution with the name and input of a
 * RUNNING execution with success; for a closed one it raises ExecutionAlreadyExists, which here means
 * "this version was already sent in this window" and is also success. A re-validation requested in a
 * later window gets a new name, so it is never swallowed by the dedup of an earlier request.
 *
 * There is no local Step Functions server here, so only the naming is tested (test/contract/).
 */
import { createHash } from 'node:crypto';
import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { type Clock, systemClock, type ValidationQueue, type VersionRef } from '../../core/ports.js';

export interface SfnValidationQueueOptions {
  readonly clock?: Clock;
  /** Requests for the same version within this window share one execution name. */
  readonly dedupWindowSeconds?: number;
}

/** Step Functions' limit on execution names. */
export const MAX_EXECUTION_NAME_LENGTH = 80;

export class SfnValidationQueue implements ValidationQueue {
  private readonly clock: Clock;
  private readonly windowMs: number;

  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
    options: SfnValidationQueueOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.windowMs = Math.max(1, options.dedupWindowSeconds ?? 60) * 1000;
  }

  async enqueue(ref: VersionRef): Promise<void> {
    const window = Math.floor(this.clock.now().getTime() / this.windowMs);
    try {
      await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: executionName(ref, window),
          input: JSON.stringify({ model: ref.model, version: ref.version }),
        }),
      );
    } catch (e) {
      if ((e as { name?: string } | null)?.name === 'ExecutionAlreadyExists') return; // same name ⇒ same input
      throw e;
    }
  }
}

/**
 * `<model>-<version>` with characters Step Functions refuses in names replaced by `_`, cut to fit, then
 * `-<12 hex of SHA-256 of model, version and window>`. The hash keeps names distinct where sanitizing or
 * cutting made them equal (`a.b@1` and `a_b@1`, `a-b@c` and `a@b-c`, long names sharing a prefix).
 */
export function executionName(ref: VersionRef, window: number): string {
  const hash = createHash('sha256')
    .update(JSON.stringify([ref.model, ref.version, window]))
    .digest('hex')
    .slice(0, 12);
  const readable = `${ref.model}-${ref.version}`.replace(/[^A-Za-z0-9_-]/g, '_');
  return `${readable.slice(0, MAX_EXECUTION_NAME_LENGTH - hash.length - 1)}-${hash}`;
}
