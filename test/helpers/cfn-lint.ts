import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * cfn-lint (on the PATH of these machines) over every template CDK synthesized into `outdir`.
 * `cfnLintMissing` is why it cannot run (the test skips saying so), or undefined; under CI=true a
 * missing cfn-lint throws instead, so CI never skips silently.
 */
const probe = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
export const cfnLintMissing: string | undefined =
  probe.error !== undefined || probe.status !== 0 ? 'cfn-lint is not on the PATH' : undefined;
if (cfnLintMissing && process.env.CI === 'true')
  throw new Error(`${cfnLintMissing} (required under CI=true)`);

/**
 * Findings cfn-lint reports on what CDK itself writes, each with its reason; anything else is a finding.
 * W3005: CDK adds an explicit DependsOn on a Lambda's role beside the GetAtt (redundant, harmless).
 * E3002 `Tags` on AWS::CloudWatch::Dashboard: CloudFormation accepts dashboard tags; cfn-lint's resource
 * spec predates them (a false positive of an outdated spec).
 */
const KNOWN: readonly { rule: string; resourceType?: string; message?: string }[] = [
  { rule: 'W3005' },
  { rule: 'E3002', resourceType: 'AWS::CloudWatch::Dashboard', message: "'Tags' was unexpected" },
];

interface Finding {
  Filename: string;
  Message: string;
  Rule: { Id: string };
  Location: { Path: (string | number)[] };
}

/** The templates of `outdir` and cfn-lint's findings on them that are not KNOWN, one line each. */
export function cfnLint(outdir: string): { templates: string[]; unexpected: string[] } {
  const templates = readdirSync(outdir)
    .filter((f) => f.endsWith('.template.json'))
    .map((f) => join(outdir, f));
  const run = spawnSync('cfn-lint', ['--format', 'json', ...templates], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 ** 2,
  });
  if (run.error) throw run.error;
  const findings = JSON.parse(run.stdout || '[]') as Finding[];
  const typeOf = (f: Finding) => {
    const template = JSON.parse(readFileSync(f.Filename, 'utf8')) as {
      Resources: Record<string, { Type: string }>;
    };
    return f.Location.Path[0] === 'Resources'
      ? template.Resources[String(f.Location.Path[1])]?.Type
      : undefined;
  };
  const unexpected = findings
    .filter(
      (f) =>
        !KNOWN.some(
          (k) =>
            k.rule === f.Rule.Id &&
            (k.resourceType === undefined || k.resourceType === typeOf(f)) &&
            (k.message === undefined || f.Message.includes(k.message)),
        ),
    )
    .map((f) => `${f.Rule.Id} ${f.Filename.split('/').at(-1)} ${f.Location.Path.join('/')}: ${f.Message}`);
  return { templates, unexpected };
}
