import { findPathClash } from '../../core/file-paths.js';
import { DownloadPlan, MAX_VERSION_FILES } from '../../schemas/version.schema.js';
import { CliError } from '../cli-error.js';
import { EXIT } from '../exit-codes.js';

/**
 * Fetches a download plan whole, following its pages (`getPage(undefined)` is the first, then each
 * page's `nextCursor`), and checks it with checkDownloadPlan. Every page must be of the same version
 * (model, version, seq) and add at least one file; a cursor that repeats, or more files than a version
 * may declare, ends it as UNSAFE_PLAN before the next request, so a hostile registry cannot keep fetch
 * paging forever.
 */
export async function fetchDownloadPlan(
  getPage: (cursor: string | undefined) => Promise<unknown>,
  model: string,
): Promise<DownloadPlan> {
  const first = pageOf(await getPage(undefined));
  const files = [...first.files];
  const cursors = new Set<string>();
  for (let cursor = first.nextCursor; cursor !== undefined; ) {
    if (cursors.has(cursor)) throw unsafe('nextCursor', 'repeats an earlier page');
    cursors.add(cursor);
    const page = pageOf(await getPage(cursor));
    const [a, b] = [first.version, page.version];
    if (a.model !== b.model || a.version !== b.version || a.seq !== b.seq)
      throw unsafe(
        'version',
        `a later page is of ${b.model}@${b.version}, the first of ${a.model}@${a.version}`,
      );
    if (page.files.length === 0) throw unsafe('files', 'a page of the plan holds no file');
    files.push(...page.files);
    if (files.length > MAX_VERSION_FILES)
      throw unsafe(
        'files',
        `has over ${MAX_VERSION_FILES} files, a version holds at most ${MAX_VERSION_FILES}`,
      );
    cursor = page.nextCursor;
  }
  return checkDownloadPlan({ version: first.version, files }, model);
}

/** One page, parsed with the schema the server answers with (paths and digests are checked whole later). */
function pageOf(raw: unknown): DownloadPlan {
  const parsed = DownloadPlan.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw unsafe(issue?.path.map(String).join('.') || 'plan', issue?.message ?? 'invalid');
}

/**
 * A download plan is untrusted input: a spoofed or compromised registry (plain http) may send any JSON.
 * Its version string and paths become paths on this node, its sizes and digests decide what is
 * accepted. So the whole plan is checked, with the very schemas the server answers with
 * (schemas/version.schema.ts DownloadPlan: VersionString, FilePath, sizes, Sha256Hex, Md5Hex), plus
 * what only holds across fields, before fetch makes any file-system call:
 * - the version is of the model asked for, and VERIFIED (the server plans nothing else);
 * - the files are exactly the version's manifest (same paths, sizes and digests), each path once, no
 *   two paths one file nor a file also a folder, even on a case-insensitive or normalizing file
 *   system (core/file-paths.ts, the rule publish applies);
 * - every download is a GET of an http(s) URL;
 * - no more files than a version may declare (MAX_VERSION_FILES, as at publish).
 * Throws CliError UNSAFE_PLAN (exit 6, an integrity failure) naming the field at fault.
 */
export function checkDownloadPlan(raw: unknown, model: string): DownloadPlan {
  const parsed = DownloadPlan.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw unsafe(issue?.path.map(String).join('.') || 'plan', issue?.message ?? 'invalid');
  }
  const plan = parsed.data;
  if (plan.files.length > MAX_VERSION_FILES)
    throw unsafe('files', `has ${plan.files.length} files, a version holds at most ${MAX_VERSION_FILES}`);
  if (plan.version.model !== model)
    throw unsafe('version.model', `is ${JSON.stringify(plan.version.model)}, ${model} was asked for`);
  if (plan.version.status !== 'VERIFIED')
    throw unsafe('version.status', `is ${plan.version.status}: only a VERIFIED version may be fetched`);
  const manifest = new Map(plan.version.files.map((f) => [f.path, f]));
  if (manifest.size !== plan.version.files.length) throw unsafe('version.files', 'lists a path twice');
  if (plan.files.length !== manifest.size)
    throw unsafe('files', `has ${plan.files.length} files, the version's manifest ${manifest.size}`);
  const seen = new Set<string>();
  plan.files.forEach((file, i) => {
    const declared = manifest.get(file.path);
    if (seen.has(file.path)) throw unsafe(`files.${i}.path`, `${file.path} is listed twice`);
    seen.add(file.path);
    if (
      !declared ||
      declared.size !== file.size ||
      declared.sha256 !== file.sha256 ||
      declared.md5 !== file.md5
    )
      throw unsafe(`files.${i}`, `${file.path} differs from the version's manifest`);
    // A VERIFIED version names both digests (its validation recorded any md5 the publisher left out).
    if (declared.md5 === undefined) throw unsafe(`files.${i}.md5`, `${file.path} has no md5`);
    if (file.download.method !== 'GET') throw unsafe(`files.${i}.download.method`, 'must be GET');
    if (!isHttpUrl(file.download.url)) throw unsafe(`files.${i}.download.url`, 'must be an http(s) URL');
  });
  const clash = findPathClash(
    plan.files.map((f) => f.path),
    'exact',
  );
  if (clash) throw unsafe(`files.${clash.index}.path`, clash.message);
  return plan;
}

function isHttpUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

const unsafe = (field: string, message: string) =>
  new CliError(
    'UNSAFE_PLAN',
    `the registry's download plan is unsafe: ${field}: ${message}; nothing was written (is --registry the registry you trust?)`,
    EXIT.INTEGRITY,
    { field },
  );
