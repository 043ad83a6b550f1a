import { hostname } from 'node:os';
import { LoadErrorCode } from '../../schemas/error-codes.schema.js';
import type { LoadReport } from '../../schemas/load-report.schema.js';
import { NodeId } from '../../schemas/load-report.schema.js';
import { VersionString } from '../../schemas/names.schema.js';
import type { Version } from '../../schemas/version.schema.js';
import { parseRef } from '../args.js';
import { CliError } from '../cli-error.js';
import { defineCommand, type Io, jsonOption, REGISTRY_OPTION } from '../command.js';
import { EXIT } from '../exit-codes.js';
import type { RegistryClient } from '../registry-client.js';
import { encode } from '../registry-client.js';

export interface ReportOutcome {
  readonly report: LoadReport;
  readonly version: Version;
  readonly quarantined: boolean;
  readonly rampRolledBack: boolean;
}

/** `--node ID` as given (checked), or the host name made safe (a host name can hold odd characters). */
export function checkNodeId(command: string, node: string | undefined): string {
  const id =
    node ??
    (hostname()
      .replace(/[^A-Za-z0-9._:-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 128) ||
      'unknown-node');
  const r = NodeId.safeParse(id);
  if (!r.success) throw CliError.usage(`--node "${id}" ${r.error.issues[0]?.message}`, command);
  return id;
}

/** Sends one field report; shared with `fetch --report`. */
export function sendFieldReport(
  client: RegistryClient,
  name: string,
  version: string,
  body: { outcome: 'ok' | 'failed'; code?: string | undefined; message?: string | undefined; node: string },
): Promise<ReportOutcome> {
  return client.post<ReportOutcome>(
    `api/v1/models/${encode(name)}/versions/${encode(version)}/field-reports`,
    body,
  );
}

/**
 * `fetch --report`: an ok report after a fetch, or the failure's code when it is a load error (integrity,
 * disk, permissions). A report that cannot be sent is a warning: it never changes the fetch's outcome.
 */
export async function reportQuietly(
  io: Io,
  client: RegistryClient,
  version: Pick<Version, 'model' | 'version'>,
  node: string,
  error?: { code: string; message: string },
): Promise<void> {
  if (error && !LoadErrorCode.safeParse(error.code).success) return;
  try {
    await sendFieldReport(client, version.model, version.version, {
      outcome: error ? 'failed' : 'ok',
      ...(error ? { code: error.code, message: error.message.slice(0, 2000) } : {}),
      node,
    });
  } catch (e) {
    io.err(`warning: the field report was not sent: ${(e as Error).message}`);
  }
}

export function describeReport(r: ReportOutcome): string {
  const v = r.version;
  const lines = [
    `reported ${r.report.outcome}${r.report.code ? ` (${r.report.code})` : ''} for ${v.model}@${v.version} from node ${r.report.node}`,
  ];
  if (r.quarantined)
    lines.push(`${v.model}@${v.version} is now QUARANTINED: ${v.statusReason?.message ?? ''}`);
  if (r.rampRolledBack)
    lines.push(
      `provider ${v.provider} was being re-enabled: the ramp is rolled back, the provider is disabled`,
    );
  return lines.join('\n');
}

export const reportCommand = defineCommand({
  name: 'report',
  summary: 'report how loading a version went on this node (field report)',
  usage: 'report NAME@VERSION --outcome ok|failed [--code CODE] [--message M] [--node ID]',
  description:
    'Reports how loading a version went on this node. Reports feed the provider\'s health score and the\nmetrics (ocr_errors_total, ocr_model_size_bytes{state="loaded"}); failures from 3 distinct nodes within\n15 minutes (the server\'s MODELGATE_QUARANTINE_* settings) quarantine a VERIFIED version: fetch then\nrefuses it and its aliases resolve to the last VERIFIED version before it. A failure while the\nprovider is being re-enabled gradually rolls the provider back to disabled.',
  options: {
    outcome: { type: 'string', arg: 'ok|failed', help: 'what happened' },
    code: {
      type: 'string',
      arg: 'CODE',
      help: `with failed: the cause, one of ${LoadErrorCode.options.join(', ')}`,
    },
    message: { type: 'string', arg: 'M', help: 'the error text the runtime gave' },
    node: { type: 'string', arg: 'ID', help: "this node's id (default: the host name)" },
    ...jsonOption('the stored report'),
    ...REGISTRY_OPTION,
  },
  exitCodes: '0 reported, 2 usage, 4 unknown model/version, 1 unexpected',
  async run({ values, positionals, client, print }) {
    const { name, ref } = parseRef('report', positionals[0]);
    if (!VersionString.safeParse(ref).success)
      throw CliError.usage(`"${ref}" is not a version string`, 'report');
    const outcome = values.outcome;
    if (outcome !== 'ok' && outcome !== 'failed')
      throw CliError.usage('--outcome must be ok or failed', 'report');
    if (outcome === 'failed' && !values.code)
      throw CliError.usage('--code CODE is required with --outcome failed', 'report');
    if (values.code !== undefined && !LoadErrorCode.safeParse(values.code).success)
      throw CliError.usage(`--code must be one of ${LoadErrorCode.options.join(', ')}`, 'report');
    const node = checkNodeId('report', values.node);
    const result = await sendFieldReport(client(), name, ref, {
      outcome,
      code: values.code,
      message: values.message,
      node,
    });
    print(result, () => describeReport(result));
    return EXIT.OK;
  },
});
