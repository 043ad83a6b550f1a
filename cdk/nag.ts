import { CfnResource, Validations } from 'aws-cdk-lib';
import { rules } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges cdk-nag's IAM5 ("wildcard permissions") findings under `scope` whose finding text
 * (e.g. `Resource::arn:…/blobs/sha256/*`) matches `pattern`, and only those.
 *
 * cdk-nag 3 wants one acknowledgment per exact finding, and a finding's text embeds logical ids and
 * the rendered references to other stacks, which exist only once the app is prepared for synthesis.
 * So the acknowledgment is computed in the construct-validation phase (after cross-stack references
 * are resolved, before cdk-nag runs) by asking cdk-nag's own rule for the policy's findings. A new
 * wildcard that does not match the pattern still fails the synth.
 */
export function acknowledgeWildcards(scope: IConstruct, pattern: RegExp, reason: string): void {
  scope.node.addValidation({
    validate: () => {
      for (const node of scope.node.findAll()) {
        if (!(node instanceof CfnResource)) continue;
        const findings = rules.iam.IAMNoWildcardPermissions(node);
        if (!Array.isArray(findings)) continue;
        for (const finding of findings) {
          if (pattern.test(finding))
            Validations.of(node).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });
        }
      }
      return [];
    },
  });
}

/** `s` as a literal inside a RegExp. */
export const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
