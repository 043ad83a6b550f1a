import { PATCHABLE_VERSION_FIELDS } from '../../core/metadata-store-base.js';
import type { VersionCondition, VersionPatch, VersionRef } from '../../core/ports.js';
import { clean, statusGsiPk, statusGsiSk } from './dynamodb-table-layout.js';

/** The expression parts of one conditional UpdateItem (without TableName and Key). */
export interface VersionUpdate {
  readonly UpdateExpression: string;
  readonly ConditionExpression: string;
  readonly ExpressionAttributeNames: Record<string, string>;
  readonly ExpressionAttributeValues: Record<string, unknown>;
}

/**
 * The UpdateItem of a version patch under its condition: SET for the patched fields, REMOVE for those
 * patched to undefined, the status index (gsi1) kept in step with `status` and `updatedAt`, and the
 * condition (the item exists, its status is one of `condition.status`, its lease owner is
 * `condition.leaseOwner` when given), plus the `storage` attributes to set or remove. The patch and condition were checked by MetadataStoreBase:
 * `condition.status` is not empty and no required field is removed.
 */
export function versionUpdate(
  ref: VersionRef,
  condition: VersionCondition,
  patch: VersionPatch,
  storage: { readonly set?: Readonly<Record<string, unknown>>; readonly remove?: readonly string[] } = {},
): VersionUpdate {
  const names: Record<string, string> = { '#status': 'status' };
  const values: Record<string, unknown> = {};
  const conditions = ['attribute_exists(pk)'];
  const expected = condition.status.map((s, i) => {
    values[`:expected${i}`] = s;
    return `:expected${i}`;
  });
  conditions.push(`#status IN (${expected.join(', ')})`);
  if (condition.leaseOwner !== undefined) {
    names['#validation'] = 'validation';
    names['#leaseOwner'] = 'leaseOwner';
    values[':owner'] = condition.leaseOwner;
    conditions.push('#validation.#leaseOwner = :owner');
  }
  const sets: string[] = [];
  const removes: string[] = [];
  for (const field of PATCHABLE_VERSION_FIELDS) {
    if (!Object.hasOwn(patch, field)) continue;
    const value = patch[field];
    names[`#${field}`] = field;
    if (value === undefined) removes.push(`#${field}`);
    else {
      values[`:${field}`] = clean(value);
      sets.push(`#${field} = :${field}`);
    }
  }
  // Storage attributes that stand in for a patched field (a spilled report: dynamodb-spill.ts).
  for (const [attr, value] of Object.entries(storage.set ?? {})) {
    names[`#${attr}`] = attr;
    values[`:${attr}`] = value;
    sets.push(`#${attr} = :${attr}`);
  }
  for (const attr of storage.remove ?? []) {
    names[`#${attr}`] = attr;
    removes.push(`#${attr}`);
  }
  if (patch.status !== undefined) {
    values[':gsi1pk'] = statusGsiPk(patch.status);
    sets.push('gsi1pk = :gsi1pk');
  }
  if (patch.updatedAt !== undefined) {
    values[':gsi1sk'] = statusGsiSk(patch.updatedAt, ref);
    sets.push('gsi1sk = :gsi1sk');
  }
  // An empty patch is still a conditional write (it checks the condition): a no-op SET keeps it valid.
  if (sets.length === 0 && removes.length === 0) sets.push('#status = #status');
  return {
    UpdateExpression: [
      sets.length ? `SET ${sets.join(', ')}` : '',
      removes.length ? `REMOVE ${removes.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join(' '),
    ConditionExpression: conditions.join(' AND '),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}
