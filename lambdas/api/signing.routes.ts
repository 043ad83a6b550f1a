import { getSigningKey, getVersionSignatures } from '../../core/version-signatures.js';
import { ModelName, VersionString } from '../../schemas/names.schema.js';
import { SignaturesResponse, SigningKeyResponse } from '../../schemas/signature.schema.js';
import { defineRoute } from '../http/define-route.js';

/** Signed provenance: the registry's public key, and each version's bundles with its current standing. */
export const signingRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/v1/signing-key',
    group: 'downloads',
    role: 'reader',
    summary: "The registry's signing public key (PEM), its key id and algorithm",
    params: {},
    response: SigningKeyResponse,
    run: ({ deps }) => getSigningKey(deps),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}/versions/{version}/signatures',
    group: 'downloads',
    role: 'reader',
    summary: "A version's model.sig and validation.sig bundles, and whether its verdict was revoked since",
    params: { name: ModelName, version: VersionString },
    response: SignaturesResponse,
    run: ({ deps, params }) => getVersionSignatures(deps, { model: params.name, version: params.version }),
  }),
];
