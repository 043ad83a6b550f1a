import { join } from 'node:path';
import { RegistryError } from '../../core/errors.js';
import { isLoadErrorFinding } from '../../core/node-doctor.js';
import { nextPollDelay } from '../../core/node-sync.js';
import type { LoadErrorCode } from '../../schemas/error-codes.schema.js';
import type { DownloadPlan } from '../../schemas/version.schema.js';
import { CliError } from '../cli-error.js';
import type { Io } from '../command.js';
import { assertStillVerified, downloadPlan } from '../commands/fetch.command.js';
import { reportQuietly } from '../commands/report.command.js';
import { EXIT } from '../exit-codes.js';
import { installVersion } from '../files/install-dir.js';
import { readMetadataFile } from '../files/metadata-file.js';
import { METADATA_FILE } from '../files/sidecar-files.js';
import type { RegistryClient } from '../registry-client.js';
import { runDoctor } from './doctor.js';

/**
 * `modelgate sync`: keeps DEST at an alias's current VERIFIED version (DESIGN.md "On the node"). Each
 * poll asks for the alias's download plan (the registry refuses a disabled provider, or a node a ramping
 * provider does not admit yet, and the agent then keeps what it has); on a new version it fetches with
 * reuse and, with the load check, loads the new content in an isolated child before switching. While
 * the registry is unreachable it backs off and never touches DEST.
 */

export interface SyncOptions {
  name: string;
  alias: string;
  dest: string;
  intervalMs: number;
  once: boolean;
  loadCheck: boolean;
  /** Memory the load check's child may use, in bytes (default MemAvailable). */
  loadBudgetBytes?: number;
  report: boolean;
  node: string;
  keep: number;
  client: RegistryClient;
  io: Io;
  /** Aborted on SIGTERM/SIGINT: the agent stops after the step in progress (downloads stop at once). */
  signal: AbortSignal;
  /** One JSON object per line on stdout. */
  log: (event: string, fields?: Record<string, unknown>) => void;
  random?: () => number;
}

type PollOutcome =
  | { kind: 'in-sync'; version: string }
  | { kind: 'switched'; version: string }
  | { kind: 'kept'; reason: string; exitCode: number }
  | { kind: 'unreachable'; exitCode: number };

/** A version the local load check refused: not tried again until the alias points elsewhere. */
class LoadCheckFailed extends Error {
  constructor(
    readonly code: LoadErrorCode,
    message: string,
  ) {
    super(message);
  }
}

async function installedVersion(dest: string): Promise<string | undefined> {
  try {
    const parsed = JSON.parse(await readMetadataFile(join(dest, METADATA_FILE))) as { version?: unknown };
    return typeof parsed.version === 'string' ? parsed.version : undefined;
  } catch {
    return undefined;
  }
}

/** Registry-side trouble the agent waits out: no answer, or an answer that says it cannot serve now. */
const isUnreachable = (e: unknown) =>
  e instanceof CliError && (e.code === 'UNREACHABLE' || e.code === 'UNAVAILABLE' || e.code === 'INTERNAL');

export class SyncAgent {
  private failures = 0;
  private refused: string | undefined;
  private lastState = '';

  constructor(private readonly opts: SyncOptions) {}

  /** Polls until stopped (or once); resolves with the exit code. */
  async run(): Promise<number> {
    const { opts } = this;
    opts.log('started', { intervalMs: opts.intervalMs, loadCheck: opts.loadCheck, node: opts.node });
    for (;;) {
      const outcome = await this.poll();
      if (opts.once || opts.signal.aborted) {
        opts.log('stopped', { reason: opts.once ? 'once' : 'signal' });
        return opts.once && 'exitCode' in outcome ? outcome.exitCode : EXIT.OK;
      }
      const delay = nextPollDelay(opts.intervalMs, this.failures, (opts.random ?? Math.random)());
      await sleep(delay, opts.signal);
      if (opts.signal.aborted) {
        opts.log('stopped', { reason: 'signal' });
        return EXIT.OK;
      }
    }
  }

  /** Logs a steady state once, not at every poll. */
  private state(key: string, event: string, fields: Record<string, unknown>): void {
    if (key === this.lastState) return;
    this.lastState = key;
    this.opts.log(event, fields);
  }

  private async poll(): Promise<PollOutcome> {
    const { opts } = this;
    const current = await installedVersion(opts.dest);
    let plan: DownloadPlan;
    try {
      plan = await downloadPlan(opts.client, opts.name, opts.alias, opts.node);
    } catch (e) {
      return this.refusedPlan(e, current);
    }
    if (this.failures > 0) opts.log('registry-reachable', { after: this.failures });
    this.failures = 0;
    const target = plan.version.version;
    if (target === current) {
      this.state(`in-sync:${target}`, 'in-sync', { version: target });
      return { kind: 'in-sync', version: target };
    }
    if (target === this.refused) {
      this.state(`refused:${target}`, 'kept', {
        version: current ?? null,
        refused: target,
        reason: 'failed its load check here',
      });
      return { kind: 'kept', reason: 'load-check', exitCode: EXIT.ENVIRONMENT };
    }
    return this.switchTo(plan, current);
  }

  private refusedPlan(e: unknown, current: string | undefined): PollOutcome {
    const { opts } = this;
    if (isUnreachable(e)) {
      this.failures++;
      opts.log('registry-unreachable', {
        kept: current ?? null,
        failures: this.failures,
        nextPollMs: Math.round(nextPollDelay(opts.intervalMs, this.failures, 0.5)),
        message: (e as Error).message,
      });
      return { kind: 'unreachable', exitCode: (e as CliError).exitCode };
    }
    if (!(e instanceof CliError)) throw e;
    const reason = e.code === 'PROVIDER_DISABLED' ? 'provider-disabled' : e.code;
    this.state(`kept:${reason}`, 'kept', { version: current ?? null, reason, message: e.message });
    return { kind: 'kept', reason, exitCode: e.exitCode };
  }

  private async switchTo(plan: DownloadPlan, current: string | undefined): Promise<PollOutcome> {
    const { opts } = this;
    const target = plan.version.version;
    opts.log('fetching', { from: current ?? null, to: target });
    const started = performance.now();
    try {
      const result = await installVersion({
        dest: opts.dest,
        version: plan.version,
        files: plan.files,
        keep: opts.keep,
        signal: opts.signal,
        beforeSwitch: async (staging) => {
          if (opts.loadCheck) await this.loadCheck(staging);
          await assertStillVerified(opts.client, plan.version);
        },
      });
      this.lastState = `in-sync:${target}`;
      opts.log('switched', {
        from: current ?? null,
        to: target,
        bytesDownloaded: result.bytesDownloaded,
        bytesResumed: result.bytesResumed,
        filesReused: result.filesReused,
        ms: Math.round(performance.now() - started),
      });
      if (opts.report) await reportQuietly(opts.io, opts.client, plan.version, opts.node);
      return { kind: 'switched', version: target };
    } catch (e) {
      return this.failedSwitch(e, plan, current);
    }
  }

  private async failedSwitch(
    e: unknown,
    plan: DownloadPlan,
    current: string | undefined,
  ): Promise<PollOutcome> {
    const { opts } = this;
    const target = plan.version.version;
    if (e instanceof LoadCheckFailed) {
      this.refused = target;
      this.lastState = `refused:${target}`;
      opts.log('load-check-failed', {
        kept: current ?? null,
        refused: target,
        code: e.code,
        message: e.message,
      });
      if (opts.report) await reportQuietly(opts.io, opts.client, plan.version, opts.node, e);
      return { kind: 'kept', reason: 'load-check', exitCode: EXIT.ENVIRONMENT };
    }
    const error = e instanceof RegistryError ? CliError.fromApi(e.code, e.message, e.details) : e;
    if (!(error instanceof CliError)) throw e;
    if (isUnreachable(error)) this.failures++;
    opts.log('fetch-failed', {
      kept: current ?? null,
      version: target,
      code: error.code,
      message: error.message,
    });
    if (opts.report && e instanceof RegistryError)
      await reportQuietly(opts.io, opts.client, plan.version, opts.node, e);
    return { kind: 'kept', reason: error.code, exitCode: error.exitCode };
  }

  /** The doctor's load check on the staged content: any model that fails to load here refuses the switch. */
  private async loadCheck(staging: string): Promise<void> {
    const result = await runDoctor({
      dir: staging,
      load: true,
      loadOnly: true,
      ...(this.opts.loadBudgetBytes === undefined ? {} : { loadBudgetBytes: this.opts.loadBudgetBytes }),
    });
    const load = result.checks.find((c) => c.name === 'load');
    if (load?.status === 'failed' || load?.status === 'skipped') {
      const finding = result.findings.find(isLoadErrorFinding);
      throw new LoadCheckFailed(finding?.code ?? 'INFERENCE_FAILED', finding?.message ?? load.detail);
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
