import { freemem } from 'node:os';
import { RegistryError } from '../../core/errors.js';
import type { DownloadPlan, Version } from '../../schemas/version.schema.js';
import { parseBytes, parseRef } from '../args.js';
import { CliError } from '../cli-error.js';
import { defineCommand, formatBytes, jsonOption, printJson, REGISTRY_OPTION } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { fetchDownloadPlan } from '../files/download-plan.js';
import { installVersion } from '../files/install-dir.js';
import { signatureChecksFor } from '../files/verify-key-env.js';
import { transferProgress } from '../progress.js';
import { encode, type RegistryClient } from '../registry-client.js';
import { checkNodeId, reportQuietly } from './report.command.js';
import { loadTestedFields } from './status.command.js';

export const fetchCommand = defineCommand({
  name: 'fetch',
  summary: 'download a VERIFIED version into a folder, verified and switched atomically',
  usage: 'fetch NAME@VERSION|ALIAS --dest DIR [--verify-key PEM] [--keep N] [--json]',
  description:
    'Downloads a VERIFIED version into DIR: every file is hashed as it is written and checked against the\nmanifest; checksums.txt (md5sum -c), SHA256SUMS (sha256sum -c) and .modelgate.json are written; files\nare 0644 and folders 0755. DIR is then switched to the new content atomically (DIR becomes a symlink\nto a content folder beside it). A failed fetch leaves DIR exactly as it was.',
  options: {
    dest: { type: 'string', arg: 'DIR', help: 'where the model files must appear (e.g. /app/models/paddle)' },
    'free-memory': {
      type: 'string',
      arg: 'B|auto',
      help: "refuse (exit 5) before downloading a byte if the version's profiled peak × 1.5 exceeds\nB bytes (e.g. 6GiB); auto reads MemAvailable from /proc/meminfo",
    },
    node: {
      type: 'string',
      arg: 'ID',
      help: "this node's id, sent with the request (default: the host name): a provider being\nre-enabled gradually admits nodes by it",
    },
    report: {
      type: 'boolean',
      help: 'report the outcome to the registry as a field report (modelgate report)',
    },
    keep: {
      type: 'string',
      arg: 'N',
      help: 'older versions to keep beside DIR for rollback and reuse (default 1); the rest are removed',
    },
    'verify-key': {
      type: 'string',
      multiple: true,
      arg: 'PEM',
      help: 'refuse (exit 6) a version whose registry signatures (model.sig, validation.sig) are\nmissing, do not verify with this public key (PEM text or a file; repeat or put several keys\nin the file to trust several) or list other files; default $MODELGATE_VERIFY_KEY',
    },
    'lock-timeout': {
      type: 'string',
      arg: 'S',
      help: 'wait at most S seconds for another fetch into DIR to end (default 300)',
    },
    ...jsonOption('the result, with bytesDownloaded, bytesResumed and filesReused'),
    ...REGISTRY_OPTION,
  },
  notes:
    "The plan the registry answers is checked whole (version string, paths, sizes, digests) before anything\nis written. DIR's store (.DIR.modelgate beside it) is used only if it is a real folder owned by this user.\nFetches into one DIR run one at a time (a lock the system releases if a fetch dies); what a killed fetch\nleft there is removed by the next one. Right before the switch, the registry is asked again whether the\nversion is still VERIFIED: one quarantined meanwhile is not installed.\nFiles of a kept version (the installed one, or older ones kept by --keep) with the same sha256 are re-hashed\nand hard-linked (copied across file systems) instead of downloaded. An interrupted download keeps its bytes\nin the store (.partial/); the next fetch re-hashes them and asks only for the rest (HTTP Range).",
  exitCodes:
    "0 fetched, 2 usage (including a store folder that is not a real folder of this user's),\n4 refused (not VERIFIED, unknown, provider disabled, quarantined while fetching, another fetch into DIR\nstill running after --lock-timeout), 5 would not fit in memory (INSUFFICIENT_MEMORY), 6 integrity failure\n(checksum mismatch, an unsafe plan: UNSAFE_PLAN, a signature that is missing or does not verify:\nSIGNATURE_INVALID), 1 unexpected (including disk full: INSUFFICIENT_DISK)",
  async run({ values, positionals, io, client: registry }) {
    const { name, ref } = parseRef('fetch', positionals[0], 'NAME@VERSION|ALIAS');
    if (!values.dest) throw CliError.usage('--dest DIR is required', 'fetch');
    const freeMemory = values['free-memory'] === undefined ? undefined : freeMemoryOf(values['free-memory']);
    const lockTimeoutMs = lockTimeoutOf(values['lock-timeout']);
    const keep = keepOf(values.keep);
    const signatures = await signatureChecksFor(values['verify-key'], io.env);
    const trusted = await signatures?.trustedKeysFrom(values['verify-key'], io.env, 'fetch');
    const client = registry();
    const node = checkNodeId('fetch', values.node);
    const plan = await downloadPlan(client, name, ref, node, freeMemory);
    // Signatures are checked against the plan before a byte moves; the download checks every byte against it.
    const signed =
      signatures && trusted
        ? await signatures.checkPlanSignatures(client, plan.version, plan.files, trusted)
        : undefined;
    const total = plan.files.reduce((s, f) => s + f.size, 0);
    const bar = transferProgress(io, values.json === true, 'fetching', total);
    let result: Awaited<ReturnType<typeof installVersion>>;
    try {
      result = await installVersion({
        dest: values.dest,
        version: plan.version,
        files: plan.files,
        onProgress: (done, _total, path) => bar.update(done, path),
        lockTimeoutMs,
        keep,
        onLockWait: () => {
          if (!values.json) io.err(`another fetch into ${values.dest} is running: waiting for it`);
        },
        beforeSwitch: async (staging) => {
          await assertStillVerified(client, plan.version);
          if (signatures && signed) await signatures.writeSignatureFiles(staging, signed.signatures);
        },
      });
    } catch (e) {
      if (values.report && e instanceof RegistryError) await reportQuietly(io, client, plan.version, node, e);
      if (e instanceof RegistryError) throw CliError.fromApi(e.code, e.message, e.details);
      throw e;
    }
    bar.finish();
    if (values.report) await reportQuietly(io, client, plan.version, node);
    const summary = {
      model: plan.version.model,
      version: plan.version.version,
      seq: plan.version.seq,
      provider: plan.version.provider,
      dest: result.dest,
      contentDir: result.contentDir,
      files: plan.files.length,
      bytes: result.bytes,
      bytesDownloaded: result.bytesDownloaded,
      bytesResumed: result.bytesResumed,
      filesReused: result.filesReused,
      bytesReused: result.bytesReused,
      ...loadTestedFields(plan.version),
      ...(signed ? { signedBy: signed.provenance.keyId } : {}),
    };
    if (values.json) printJson(io, summary);
    else
      io.out(
        `fetched ${name}@${plan.version.version} (${plan.files.length} file(s), ${formatBytes(total)}: ${formatBytes(result.bytesDownloaded)} downloaded${result.bytesResumed ? `, ${formatBytes(result.bytesResumed)} resumed` : ''}, ${result.filesReused} file(s) reused) into ${result.dest}${summary.note ? ` (${summary.note})` : ''}${signed ? `, signed by key ${signed.provenance.keyId.slice(0, 16)}…` : ''}`,
      );
    return EXIT.OK;
  },
});

/**
 * The registry's download plan for NAME@REF, every page followed and checked whole before anything is written:
 * the one call fetch and sync get their plan from. `node` lets a ramping provider admit this node;
 * `freeMemory` (bytes) lets the registry refuse a version that would not fit.
 */
export async function downloadPlan(
  client: RegistryClient,
  name: string,
  ref: string,
  node: string,
  freeMemory?: number,
): Promise<DownloadPlan> {
  const query = `?${new URLSearchParams({ node, ...(freeMemory === undefined ? {} : { freeMemoryBytes: String(freeMemory) }) })}`;
  return fetchDownloadPlan(
    (cursor) =>
      client.get<unknown>(
        `api/v1/models/${encode(name)}/download/${encode(ref)}${query}${cursor ? `&cursor=${encode(cursor)}` : ''}`,
      ),
    name,
  );
}

/**
 * Asks the registry again, after the download and right before the switch, whether the version may
 * still be served: one quarantined (or deprecated) while its bytes were moving is not installed.
 */
export async function assertStillVerified(client: RegistryClient, version: Version): Promise<void> {
  const now = await client.get<Partial<Version>>(
    `api/v1/models/${encode(version.model)}/versions/${encode(version.version)}`,
  );
  if (now.status !== 'VERIFIED')
    throw CliError.fromApi(
      'NOT_VERIFIED',
      `${version.model}@${version.version} became ${String(now.status)} while it was being fetched: not installed, the destination is unchanged`,
      { status: now.status },
    );
}

function keepOf(text: string | undefined): number {
  if (text === undefined) return 1;
  if (!/^\d{1,3}$/.test(text))
    throw CliError.usage(`--keep expects a number of versions (0-999), got "${text}"`, 'fetch');
  return Number(text);
}

function lockTimeoutOf(text: string | undefined): number {
  if (text === undefined) return 300_000;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0)
    throw CliError.usage(`--lock-timeout expects seconds, got "${text}"`, 'fetch');
  return seconds * 1000;
}

/** `auto` is MemAvailable (what libuv's freemem reads on Linux), the figure the runbook's rule compares. */
function freeMemoryOf(text: string): number {
  return text === 'auto' ? freemem() : parseBytes('fetch', 'free-memory', text);
}
