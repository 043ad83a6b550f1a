import { RemovalPolicy, Tags } from 'aws-cdk-lib';
import { AnyPrincipal, Effect, type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * The principal tag that marks the one role allowed to sign. The key policy denies `kms:Sign` to every
 * principal without it, so an IAM policy granting `kms:Sign` elsewhere in the account does not suffice.
 */
export const SIGNER_TAG = { key: 'modelgate-signer', value: 'finalize' } as const;

/**
 * The registry's signing key: a KMS asymmetric key (ECC_NIST_P256, SIGN_VERIFY) that signs every
 * VERIFIED version (adapters/signing/kms-signer.ts). It lives in the stateful stack and is retained:
 * nodes trust its public key, so replacing it is a rotation (README, "Signed provenance"), never a
 * side effect of a deploy. Asymmetric KMS keys have no automatic rotation.
 */
export class SigningKey extends Construct {
  readonly key: Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.key = new Key(this, 'Key', {
      description:
        'modelgate: signs VERIFIED model versions (OpenSSF model signing, validation attestations)',
      keySpec: KeySpec.ECC_NIST_P256,
      keyUsage: KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'OnlyTheFinalizeStepSigns',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: { StringNotEquals: { [`aws:PrincipalTag/${SIGNER_TAG.key}`]: SIGNER_TAG.value } },
      }),
    );
  }

  /** Lets `role` sign (and read the public key), and tags it as the signer the key policy admits. */
  grantSign(role: IRole): void {
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['kms:Sign', 'kms:GetPublicKey'], resources: [this.key.keyArn] }),
    );
    Tags.of(role).add(SIGNER_TAG.key, SIGNER_TAG.value);
  }

  /** Lets `role` read the public key only (the API serves it at GET /api/v1/signing-key). */
  grantPublicKey(role: IRole): void {
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['kms:GetPublicKey'], resources: [this.key.keyArn] }),
    );
  }
}
