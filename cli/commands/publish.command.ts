import { userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { isVerdictSettled } from '../../core/validation-rules.js';
import type { Model } from '../../schemas/model.schema.js';
import { ProviderName, VersionString } from '../../schemas/names.schema.js';
import {
  type CompletedUpload,
  type InputShapes,
  type PartChecksum,
  PublishInputShapes,
  type StagedUpload,
  type StartVersionResponse,
  type UploadInstruction,
  type UploadPartsResponse,
  type Version,
} from '../../schemas/version.schema.js';
import { parseBytes, parseRef } from '../args.js';
import { CliError } from '../cli-error.js';
import { collectFiles } from '../collect-files.js';
import { defineCommand, formatBytes, jsonOption, REGISTRY_OPTION } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { createSha256Pool, poolThreads } from '../files/hash-pool.js';
import { checkPublishInputs, parseInputValues } from '../files/model-inputs.js';
import { inPool } from '../in-pool.js';
import { type Progress, transferProgress } from '../progress.js';
import type { RegistryClient } from '../registry-client.js';
import { encode } from '../registry-client.js';
import { type StagedSend, startStagedUploads } from '../staged-upload.js';
import { uploadFile } from '../upload.js';
import { uploadParts } from '../upload-parts.js';
import { describeFailure } from './status.command.js';

export const publishCommand = defineCommand({
  name: 'publish',
  summary: 'publish a new version of a model (one or many files)',
  usage: 'publish NAME@VERSION PATH... [options]',
  description:
    'Publishes a new version: hashes every file (sha256; the registry computes the md5 as it stores the bytes), uploads only the files the\nregistry does not hold yet, commits, and queues the version for validation. Files of 32 MiB or more\nstart on their way while they are hashed, where the registry takes staged uploads (not on S3): the\nregistry hashes them too and stores them only if both digests agree. One whose size and first MiB match\na blob the registry holds (the same weights again) is hashed first and, if it is that blob, not sent. A folder publishes every\nfile below it, under its relative path. Up to 4 files are uploaded at once. On S3, a big file goes in parts, 4 at a time, each checked by S3\nas it arrives; a failed part is tried 3 times.',
  options: {
    provider: {
      type: 'string',
      arg: 'P',
      help: 'provider of a new model (or $MODELGATE_PROVIDER): required for a new model, since\nfetch, health, quarantine and disabling act per provider; an existing model keeps\nits own, which --provider must match',
    },
    publisher: {
      type: 'string',
      arg: 'NAME',
      help: "who publishes (default: the OS user); a registry with tokens or IAM records the\ncaller's identity instead",
    },
    'input-shape': {
      type: 'string',
      multiple: true,
      arg: 'N=D,..',
      help: 'shape an input is served at, e.g. x=1,3,640,640 (repeatable); symbolic dims\nof that input take these values in validation and memory profiling',
    },
    'input-value': {
      type: 'string',
      multiple: true,
      arg: 'N=V',
      help: "the value input N is served with (repeatable): a scalar input's value, or the\nfill value of that input's tensor, e.g. sr=16000; used instead of synthesized\nvalues in the smoke run",
    },
    'sample-inputs': {
      type: 'string',
      arg: 'PATH',
      help: 'inputs to smoke-run with: a golden JSON file or a folder in the ONNX test-data\nlayout (see Notes); published beside the model',
    },
    'memory-budget': {
      type: 'string',
      arg: 'B',
      help: "memory budget of the validation (e.g. 2GiB); default: the server's",
    },
    'follow-symlinks': {
      type: 'boolean',
      help: 'follow symbolic links in a folder that point outside it (default: refused);\ndangling links and loops are always refused',
    },
    wait: { type: 'boolean', help: 'wait until the version is VERIFIED or FAILED (exit 3 if FAILED)' },
    timeout: { type: 'string', arg: 'SECONDS', help: 'with --wait, give up after this long (default 3600)' },
    ...jsonOption('the final version'),
    ...REGISTRY_OPTION,
  },
  notes: [
    "Every name in --input-shape, --input-value and the samples must be an input of the version's ONNX",
    'files: checked before anything is uploaded (exit 2).',
    'Sample inputs: a golden JSON file ({"inputs": …}, "outputs" optional: without them nothing is',
    'compared), or a folder in the ONNX test-data layout (test_data_set_N/input_K.pb, optional',
    'output_K.pb, compared with a tolerance). A published folder that already holds test_data_set_N',
    'next to its model uses it without --sample-inputs.',
    'Golden I/O: a file DIR/NAME.golden.json published with DIR/NAME.onnx holds inputs and expected',
    'outputs ({"inputs": {N: {"type", "dims", "data"}}, "outputs": {N: {"dims", "data"}}, "tolerance":',
    '1e-4}); validation runs those inputs and fails INFERENCE_FAILED on a larger difference.',
    'Progress (file, bytes, rate, time left) is drawn on stderr only when it is a terminal and without --json.',
  ].join('\n'),
  exitCodes:
    '0 published (and VERIFIED with --wait), 2 usage (including a new model without --provider),\n3 FAILED validation, 4 refused (e.g. the version exists), 6 a file changed while uploading, 1 unexpected',
  async run({ values, positionals, io, client: registry, print }) {
    const { name, ref: version } = parseRef('publish', positionals[0]);
    const versionCheck = VersionString.safeParse(version);
    if (!versionCheck.success)
      throw CliError.usage(`version "${version}" ${versionCheck.error.issues[0]?.message}`, 'publish');
    // --provider must match an existing model's; $MODELGATE_PROVIDER only names the provider of a new one.
    const provider = { given: values.provider, fallback: io.env.MODELGATE_PROVIDER || undefined };
    for (const [flag, value] of [
      ['--provider', provider.given],
      ['$MODELGATE_PROVIDER', provider.fallback],
    ] as const)
      if (value !== undefined && !ProviderName.safeParse(value).success)
        throw CliError.usage(`${flag} "${value}" must match ^[a-z0-9][a-z0-9._-]{0,63}$`, 'publish');
    const publisher = values.publisher ?? osUser();
    if (publisher.length === 0 || publisher.length > 200)
      throw CliError.usage('--publisher must be 1 to 200 characters', 'publish');
    if (positionals.length < 2)
      throw CliError.usage('give at least one file or folder to publish', 'publish');
    const inputShapes = parseInputShapes(values['input-shape'] ?? []);
    const inputValues = parseInputValues(values['input-value'] ?? []);
    const memoryBudgetBytes = values['memory-budget']
      ? parseBytes('publish', 'memory-budget', values['memory-budget'])
      : undefined;
    const timeoutMs = values.timeout ? Number(values.timeout) * 1000 : 3600_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw CliError.usage('--timeout expects seconds', 'publish');

    const client = registry();
    // Before any byte is hashed: a new model without a provider is refused at once, not after minutes.
    const createModel = await modelToCreate(client, name, provider);
    const collected = await collectFiles('publish', positionals.slice(1), {
      followSymlinks: values['follow-symlinks'] === true,
    });
    const files = [
      ...collected,
      ...checkPublishInputs(collected, {
        shapes: inputShapes,
        values: inputValues,
        ...(values['sample-inputs'] ? { sampleInputs: values['sample-inputs'] } : {}),
      }),
    ];
    const total = files.reduce((s, f) => s + f.size, 0);
    const { started, uploaded } = await hashAndUpload(client, files, {
      total,
      progress: (stage, size) => transferProgress(io, values.json === true, stage, size),
      declare: async (manifest) => {
        if (createModel) await createModelOnce(client, name, createModel);
        return declareVersion(client, `api/v1/models/${encode(name)}/versions`, {
          version,
          files: manifest,
          inputShapes,
          ...(Object.keys(inputValues).length > 0 ? { inputValues } : {}),
          ...(memoryBudgetBytes ? { memoryBudgetBytes } : {}),
          publisher,
          pagedUploads: true,
        });
      },
      ref: { name, version },
    });
    const uploadTotal = uploadTotalOf(started.uploads);
    let result = await client.post<Version>(
      `api/v1/models/${encode(name)}/versions/${encode(version)}/commit`,
      {
        ...(uploaded.multipart.length > 0 ? { multipart: uploaded.multipart } : {}),
        ...(uploaded.staged.length > 0 ? { staged: uploaded.staged } : {}),
      },
    );
    if (!values.json)
      io.err(
        `published ${name}@${version}: ${files.length} file(s), ${formatBytes(total)}; uploaded ${started.uploads.length} new blob(s) (${formatBytes(uploadTotal)}), ${files.length - started.uploads.length} already stored`,
      );
    if (values.wait)
      result = await waitForVerdict(client, name, version, timeoutMs, (s) => !values.json && io.err(s));
    print(result, () => `${name}@${version} ${result.status}`);
    if (result.status === 'FAILED') {
      io.err(describeFailure(result));
      return EXIT.VALIDATION_FAILED;
    }
    return EXIT.OK;
  },
});

/**
 * Declares the version and gathers every upload target: the registry answers them a page at a time
 * (UPLOAD_TARGETS_PAGE, in sha256 order), and each further page is the same declaration again with
 * `uploadsAfter`. A cursor that does not move forward is the registry's fault, refused rather than looped on.
 */
async function declareVersion(
  client: RegistryClient,
  path: string,
  body: Record<string, unknown>,
): Promise<StartVersionResponse> {
  const first = await client.post<StartVersionResponse>(path, body);
  const uploads = [...first.uploads];
  for (let after = first.moreUploadsAfter; after !== undefined; ) {
    const next = await client.post<StartVersionResponse>(path, { ...body, uploadsAfter: after });
    for (const u of next.uploads) uploads.push(u);
    if (next.moreUploadsAfter !== undefined && next.moreUploadsAfter <= after)
      throw new CliError(
        'INTERNAL',
        `the registry answered upload targets out of order after ${after}`,
        EXIT.UNEXPECTED,
      );
    after = next.moreUploadsAfter;
  }
  return { ...first, uploads };
}

/**
 * Hashes the files, declares the version with their manifest (`declare`), and sends every blob the
 * registry asks for. Big files start on their way before hashing (staged uploads, where the registry
 * takes them) so the hash no longer stands in front of the upload; sends the registry turns out not to
 * need are stopped, or the registry drops what they sent. Answers the declared version and what the
 * commit needs.
 */
async function hashAndUpload(
  client: RegistryClient,
  files: readonly PublishFile[],
  how: {
    readonly total: number;
    readonly progress: (stage: 'hashing' | 'uploading', total: number) => Progress;
    readonly declare: (manifest: ManifestEntry[]) => Promise<StartVersionResponse>;
    readonly ref: { name: string; version: string };
  },
): Promise<{ started: StartVersionResponse; uploaded: Uploaded }> {
  // Bytes sent so far per local file, over staged sends and uploads alike; drawn once hashing is done.
  const sentByFile = new Map<string, number>();
  const shownPath = new Map(files.map((f) => [f.localPath, f.path]));
  let uploading: Progress | undefined;
  const onSent = (localPath: string, bytes: number) => {
    sentByFile.set(localPath, bytes);
    let sent = 0;
    for (const n of sentByFile.values()) sent += n;
    uploading?.update(sent, shownPath.get(localPath)!);
  };
  const staged = await startStagedUploads(client, files, UPLOAD_CONCURRENCY, onSent);
  let claims = new Map<string, StagedSend>();
  let done = false;
  try {
    const hashing = how.progress('hashing', how.total);
    const manifest = await hashFiles(files, (bytes, path) => hashing.update(bytes, path));
    hashing.finish();
    const started = await how.declare(manifest);
    claims = stagedClaims(files, manifest, staged, started.uploads);
    const claimed = new Set(claims.values());
    for (const [localPath, send] of staged) if (!claimed.has(send)) sentByFile.delete(localPath);
    uploading = how.progress('uploading', uploadTotalOf(started.uploads));
    const uploaded = await sendUploads(client, how.ref, files, manifest, started.uploads, claims, onSent);
    uploading.finish();
    done = true;
    return { started, uploaded };
  } finally {
    // Sends not claimed (a blob the registry holds, a file given twice), or every send after an error:
    // stop them, or have the registry drop what they sent.
    const claimed = new Set(done ? claims.values() : []);
    await Promise.all([...staged.values()].filter((send) => !claimed.has(send)).map((send) => send.abort()));
  }
}

type ManifestEntry = { path: string; size: number; sha256: string };
type Uploaded = { multipart: CompletedUpload[]; staged: StagedUpload[] };

/**
 * The manifest of the files to publish: path, size and sha256, each file read once, up to two files at
 * once on hashing threads (`createSha256Pool`). The md5 is left to the registry, which computes it while it
 * stores the bytes it checked against the sha256 (validation records it): hashing md5 here too would
 * double the slowest digest of a publish for no extra assurance. Symlinks are followed: `collectFiles`
 * refused the ones a publish may not take. `onProgress` gets the bytes hashed so far, over every file.
 */
async function hashFiles(
  files: readonly { path: string; localPath: string; size: number }[],
  onProgress: (bytes: number, path: string) => void,
): Promise<ManifestEntry[]> {
  const pool = createSha256Pool(poolThreads(files.length));
  const progress = new Map<string, number>();
  const report = (path: string) => (bytes: number) => {
    progress.set(path, bytes);
    let done = 0;
    for (const n of progress.values()) done += n;
    onProgress(done, path);
  };
  try {
    return await Promise.all(
      files.map(async (f) => {
        const h = await pool.hash(f.localPath, { followSymlinks: true, onProgress: report(f.path) });
        if (h.size !== f.size)
          throw new CliError('CHECKSUM_MISMATCH', `${f.localPath} changed while it was read`, EXIT.INTEGRITY);
        return { path: f.path, size: h.size, sha256: h.sha256 };
      }),
    );
  } finally {
    await pool.close();
  }
}

/** Files uploaded at once; a multipart file counts as one (its parts go 4 at a time). */
const UPLOAD_CONCURRENCY = 4;

const uploadTotalOf = (uploads: readonly UploadInstruction[]) => uploads.reduce((s, u) => s + u.size, 0);

interface PublishFile {
  readonly path: string;
  readonly localPath: string;
  readonly size: number;
}

/**
 * Which staged send supplies each blob the registry asked for: the first file hashing to it that was
 * sent staged. Sends of blobs the registry holds, and of a second file with the same bytes, are aborted.
 */
function stagedClaims(
  files: readonly PublishFile[],
  manifest: readonly { sha256: string }[],
  staged: ReadonlyMap<string, StagedSend>,
  uploads: readonly UploadInstruction[],
): Map<string, StagedSend> {
  const needed = new Set(uploads.map((u) => u.sha256));
  const claims = new Map<string, StagedSend>();
  files.forEach((f, i) => {
    const send = staged.get(f.localPath);
    if (!send) return;
    const sha256 = manifest[i]!.sha256;
    if (needed.has(sha256) && !claims.has(sha256)) claims.set(sha256, send);
    else void send.abort(); // stopped now; awaited with the other unclaimed sends
  });
  return claims;
}

/**
 * Sends every blob the registry asked for: a staged send already on its way is awaited (and named for the
 * commit to claim); any other goes to its upload target, `UPLOAD_CONCURRENCY` files at once, as one
 * request or in parts. Answers what the commit needs.
 */
async function sendUploads(
  client: RegistryClient,
  ref: { name: string; version: string },
  files: readonly PublishFile[],
  manifest: readonly { sha256: string }[],
  uploads: readonly UploadInstruction[],
  claims: ReadonlyMap<string, StagedSend>,
  onSent: (localPath: string, bytes: number) => void,
): Promise<Uploaded> {
  const direct = uploads.filter((u) => !claims.has(u.sha256));
  // Several files at once: while one waits on the disk or the socket, another is sent.
  const [multipart] = await Promise.all([
    inPool(direct, UPLOAD_CONCURRENCY, async (u) => {
      const local = files[manifest.findIndex((m) => m.sha256 === u.sha256)]!;
      const onProgress = (b: number) => onSent(local.localPath, b);
      if (u.multipart) return uploadInParts(client, ref, local.localPath, u, onProgress);
      await uploadFile(local.localPath, u, onProgress);
      return undefined;
    }),
    ...[...claims.values()].map((send) => send.sent),
  ]);
  return {
    multipart: multipart.filter((m): m is CompletedUpload => m !== undefined),
    staged: [...claims].map(([sha256, send]) => ({ sha256, uploadId: send.uploadId })),
  };
}

/** A big file, in parts: each part's URL is asked of the registry with the part's checksum. */
function uploadInParts(
  client: RegistryClient,
  ref: { name: string; version: string },
  path: string,
  u: UploadInstruction,
  onProgress: (bytes: number) => void,
): Promise<CompletedUpload> {
  const multipart = u.multipart!;
  const sign = async (part: PartChecksum) => {
    const signed = await client.post<UploadPartsResponse>(
      `api/v1/models/${encode(ref.name)}/versions/${encode(ref.version)}/upload-parts`,
      { sha256: u.sha256, uploadId: multipart.uploadId, parts: [part] },
    );
    return signed.parts[0]!;
  };
  return uploadParts(path, { sha256: u.sha256, size: u.size, multipart }, sign, { onProgress });
}

function parseInputShapes(specs: readonly string[]): InputShapes {
  const shapes: InputShapes = {};
  for (const spec of specs) {
    const m = /^([^=]+)=(\d+(?:,\d+)*)$/.exec(spec);
    if (!m)
      throw CliError.usage(
        `--input-shape expects NAME=D1,D2,... with positive integers, got "${spec}"`,
        'publish',
      );
    const dims = m[2]!.split(',').map(Number);
    if (dims.some((d) => d < 1))
      throw CliError.usage(`--input-shape ${spec}: every dimension must be ≥ 1`, 'publish');
    const checked = PublishInputShapes.safeParse({ [m[1]!]: dims });
    if (!checked.success)
      throw CliError.usage(`--input-shape ${spec}: ${checked.error.issues[0]!.message}`, 'publish');
    shapes[m[1]!] = dims;
  }
  return shapes;
}

/**
 * The provider of the model to create, or undefined when the model exists (its provider must then match
 * an explicit --provider). A new model with no provider at all is a usage error.
 */
async function modelToCreate(
  client: RegistryClient,
  name: string,
  provider: { given: string | undefined; fallback: string | undefined },
): Promise<string | undefined> {
  try {
    const model = await client.get<Model>(`api/v1/models/${encode(name)}`);
    if (provider.given !== undefined && model.provider !== provider.given)
      throw CliError.usage(
        `model ${name} belongs to provider ${model.provider}, not ${provider.given}`,
        'publish',
      );
    return undefined;
  } catch (e) {
    if (!(e instanceof CliError) || e.code !== 'NOT_FOUND') throw e;
    const chosen = provider.given ?? provider.fallback;
    if (chosen === undefined) throw newModelNeedsProvider(name);
    return chosen;
  }
}

async function createModelOnce(client: RegistryClient, name: string, provider: string): Promise<void> {
  try {
    await client.post<Model>('api/v1/models', { name, provider });
  } catch (createError) {
    // Another publisher created it in between: that is fine.
    if (!(createError instanceof CliError) || createError.code !== 'ALREADY_EXISTS') throw createError;
  }
}

/**
 * The usage error of a new model published without a provider: every model belongs to one, and the
 * provider is what operations act on, so a silent "default" would put unrelated models under one switch.
 */
export function newModelNeedsProvider(name: string): CliError {
  return CliError.usage(
    `model ${name} is new: say which provider it belongs to with --provider P (or $MODELGATE_PROVIDER). ` +
      'Health, quarantine and `modelgate provider disable` act per provider, so models that fail together ' +
      'should share one and unrelated models should not',
    'publish',
  );
}

/** The OS user's name, as the default publisher; `unknown` where the system has none (a bare container uid). */
function osUser(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function waitForVerdict(
  client: RegistryClient,
  name: string,
  version: string,
  timeoutMs: number,
  note: (line: string) => void,
): Promise<Version> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  // A local registry decides a small version within tens of milliseconds of the commit: the first polls
  // come quickly, then back off to one every 2 s for a long validation (a GPU job on AWS).
  for (let delay = 25; ; delay = Math.min(2000, delay * 1.5)) {
    const v = await client.get<Version>(`api/v1/models/${encode(name)}/versions/${encode(version)}`);
    if (v.status !== last) note(`${name}@${version}: ${v.status}`);
    last = v.status;
    if (isVerdictSettled(v.status)) return v;
    if (Date.now() > deadline)
      throw new CliError(
        'TIMEOUT',
        `${name}@${version} is still ${v.status} after ${timeoutMs / 1000} s`,
        EXIT.UNEXPECTED,
      );
    await sleep(delay);
  }
}
