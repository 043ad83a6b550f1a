import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, expect, it } from 'vitest';
import { acknowledgeWildcards, escapeRegExp } from '../../cdk/nag.js';

/** The wildcard acknowledgment helper is narrow: it clears the findings it matches and no other. */
const outdir = mkdtempSync(join(tmpdir(), 'modelgate-cdk-nag-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

it('acknowledges only the IAM5 findings whose text matches, so other wildcards still fail', () => {
  const app = new App({ outdir, context: { '@aws-cdk/core:failSynthOnValidationErrors': false } });
  const stack = new Stack(app, 'NagProbe');
  const role = new Role(stack, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  role.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['s3:GetObject'], resources: ['arn:aws:s3:::bucket/blobs/sha256/*'] }),
  );
  role.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['s3:GetObject'], resources: ['arn:aws:s3:::bucket/other/*'] }),
  );
  acknowledgeWildcards(role, new RegExp(`/${escapeRegExp('blobs/sha256/')}\\*$`), 'content-addressed keys');
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: { violations: { ruleName: string }[] }[];
  };
  const open = report.pluginReports.flatMap((p) => p.violations.map((v) => v.ruleName));
  expect(open).toContain('AwsSolutions-IAM5[Resource::arn:aws:s3:::bucket/other/*]');
  expect(open).not.toContain('AwsSolutions-IAM5[Resource::arn:aws:s3:::bucket/blobs/sha256/*]');
});
