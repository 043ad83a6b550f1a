import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, it } from 'vitest';

/**
 * The programs outside npm that parts of the suite drive for real, each with the Debian package that
 * installs it. `npm test` on a machine with Node and npm alone skips what needs them, saying which
 * program and how to install it; under `CI=true` a missing program fails instead, so CI never passes
 * by skipping. `.ci/run` installs them all; the README lists them with {@link APT_INSTALL_LINE}.
 */
export const SYSTEM_PROGRAMS = {
  chromium: {
    commands: ['chromium', 'chromium-browser'],
    apt: 'chromium',
    for: 'the dashboard in a browser',
  },
  java: { commands: ['java'], apt: 'openjdk-17-jre-headless', for: 'DynamoDB Local (the aws backend)' },
  prometheus: { commands: ['prometheus'], apt: 'prometheus', for: 'the runbook queries and Grafana panels' },
  promtool: { commands: ['promtool'], apt: 'prometheus', for: 'checking metrics, rules and PromQL' },
  time: { commands: ['time'], apt: 'time', for: 'GNU time, the reference peak memory' },
  jq: { commands: ['jq'], apt: 'jq', for: "the runbook's jq commands" },
  curl: { commands: ['curl'], apt: 'curl', for: "the runbook's curl commands" },
} as const;

export type SystemProgram = keyof typeof SYSTEM_PROGRAMS;

/** One line that installs every program of {@link SYSTEM_PROGRAMS} (Debian/Ubuntu). */
export const APT_INSTALL_LINE = `apt-get install -y ${[
  ...new Set(Object.values(SYSTEM_PROGRAMS).map((p) => p.apt)),
].join(' ')}`;

/** True when the suite runs in CI (`CI=true`, as GitHub Actions, GitLab and .ci/run set it). */
export const inCi = (env: NodeJS.ProcessEnv = process.env): boolean => env.CI === 'true' || env.CI === '1';

/** The absolute path of `name`'s executable found on `PATH` (a shell builtin never counts), or undefined. */
export function findProgram(name: SystemProgram, path = process.env.PATH ?? ''): string | undefined {
  for (const command of SYSTEM_PROGRAMS[name].commands)
    for (const dir of path.split(delimiter).filter(Boolean)) {
      const candidate = join(dir, command);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not in this folder
      }
    }
  return undefined;
}

/** "chromium is not installed (needed for …): apt-get install -y chromium (.ci/run installs it)" */
export function missingMessage(name: SystemProgram): string {
  const p = SYSTEM_PROGRAMS[name];
  return `${name} is not installed (needed for ${p.for}): apt-get install -y ${p.apt} (.ci/run installs it)`;
}

/** The path of `name`, or an Error naming the program and its install line: for helpers that start it. */
export function requireProgram(name: SystemProgram): string {
  const found = findProgram(name);
  if (!found) throw new Error(missingMessage(name));
  return found;
}

export interface Needs {
  /** True when a program is missing outside CI: the caller skips (`describe.skipIf(need.skip)`). */
  readonly skip: boolean;
  /** Why, naming each missing program and its install line; empty when nothing is missing. */
  readonly reason: string;
  /** The title as given, or with "(skipped: reason)" appended when skipping, so the report says why. */
  title(title: string): string;
  /** The path of a program that was found (throws for one that was not). */
  path(name: SystemProgram): string;
}

/**
 * What a test file needs from the system. Call it at module level. Outside CI a missing program makes
 * `skip` true and prints the reason once on stderr; under `CI=true` it throws, failing the file.
 */
export function needs(
  programs: readonly SystemProgram[],
  options: { env?: NodeJS.ProcessEnv; path?: string } = {},
): Needs {
  const env = options.env ?? process.env;
  const paths = new Map(programs.map((name) => [name, findProgram(name, options.path ?? env.PATH ?? '')]));
  const missing = programs.filter((name) => !paths.get(name));
  const reason = missing.map(missingMessage).join('; ');
  if (missing.length > 0 && inCi(env))
    throw new Error(`CI=true and a program the suite needs is missing: ${reason}`);
  if (missing.length > 0) warnOnce(reason);
  return {
    skip: missing.length > 0,
    reason,
    title: (title) => (missing.length > 0 ? `${title} (skipped: ${reason})` : title),
    path(name) {
      const found = paths.get(name);
      if (!found) throw new Error(missingMessage(name));
      return found;
    },
  };
}

/** Registers a skipped block in place of a suite that could not be declared: the report still says why. */
export function describeSkipped(need: Needs, title: string): void {
  describe.skip(need.title(title), () => {
    it('runs where the program is installed', () => {});
  });
}

const warned = new Set<string>();
function warnOnce(reason: string): void {
  if (warned.has(reason)) return;
  warned.add(reason);
  process.stderr.write(`skipping tests: ${reason}\n`);
}
