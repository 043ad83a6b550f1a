import { freemem } from 'node:os';
import { isLoadErrorFinding, mostSevere } from '../../core/node-doctor.js';
import { parseBytes } from '../args.js';
import { CliError } from '../cli-error.js';
import { defineCommand, jsonOption, REGISTRY_OPTION } from '../command.js';
import { trustedKeysFrom } from '../files/verify-signature.js';
import { type DoctorResult, runDoctor } from '../node/doctor.js';
import { checkNodeId, reportQuietly } from './report.command.js';

export const doctorCommand = defineCommand({
  name: 'doctor',
  summary: "check this node for a fetched folder: the runbook's investigation in one command",
  usage:
    'doctor DIR [--key PEM] [--load] [--free-memory B|auto] [--load-budget B] [--json] [--report [--node ID]]',
  description:
    'Runs RUNBOOK-MODEL_LOAD_ERROR.md\'s investigation, in its order, on a folder written by `modelgate fetch`:\nevery file present and matching its sha256, no extra files, and with --key the registry\'s signatures\n("Check model files"); files 0644 and folders 0755, with owner and SELinux context ("Verify permissions");\nMemAvailable against the version\'s profiled peak × 1.5, free disk against the next version\'s size, a GPU\nand driver when the version was validated on one ("Analyze resource constraints"); this node\'s\nonnxruntime version and execution providers against the validation\'s, and the models\' IR version and\nopsets against this runtime ("Dependencies"). With --load, each model is loaded and smoke-run in an\nisolated child with the version\'s recorded inputs ("Test model loading directly"). Each finding names\nits code, the file, what was seen and the runbook step that fixes it.',
  options: {
    key: {
      type: 'string',
      multiple: true,
      arg: 'PEM',
      help: "check the registry's signatures (model.sig, validation.sig) with this public key (PEM text\nor a file; repeatable; default $MODELGATE_VERIFY_KEY); without a key doctor only says whether\nthey are present",
    },
    load: {
      type: 'boolean',
      help: 'also load and smoke-run every model in an isolated child, with its peak memory',
    },
    'free-memory': {
      type: 'string',
      arg: 'B|auto',
      help: 'judge memory against B bytes (e.g. 6GiB) instead of MemAvailable (auto, the default)',
    },
    'load-budget': {
      type: 'string',
      arg: 'B',
      help: 'memory the --load child may use before it is stopped (default: the free memory judged by)',
    },
    report: {
      type: 'boolean',
      help: 'send the outcome to the registry as a field report (modelgate report)',
    },
    node: { type: 'string', arg: 'ID', help: "this node's id for --report (default: the host name)" },
    ...jsonOption('{ok, version, findings: [{code, file, message, fix}], checks}'),
    ...REGISTRY_OPTION,
  },
  notes:
    'A folder fetched by an older modelgate records no validation report: the memory, GPU and runtime\nchecks are then skipped (and say so); fetch it again to enable them.',
  exitCodes:
    "0 all clear, 2 usage, 6 integrity (FILE_MISSING, CHECKSUM_MISMATCH; with --key SIGNATURE_INVALID),\n5 memory (INSUFFICIENT_MEMORY), 7 this node's environment (PERMISSION_DENIED, INSUFFICIENT_DISK,\nGPU_UNAVAILABLE, DEPENDENCY_MISSING, UNSUPPORTED_MODEL, or a load that fails here); with several\nfindings, the most severe in that order",
  async run({ values, positionals, io, client, print }) {
    const dir = positionals[0];
    if (!dir) throw CliError.usage('missing DIR', 'doctor');
    const free = values['free-memory'];
    const freeMemoryBytes =
      free === undefined || free === 'auto' ? undefined : parseBytes('doctor', 'free-memory', free);
    const loadBudget = values['load-budget'];
    const node = values.report ? checkNodeId('doctor', values.node) : undefined;
    const trustedKeys = await trustedKeysFrom(values.key, io.env, 'doctor');
    const result = await runDoctor({
      dir,
      ...(trustedKeys ? { trustedKeys } : {}),
      load: values.load === true,
      freeMemoryBytes: freeMemoryBytes ?? (free === 'auto' ? freemem() : undefined),
      ...(loadBudget === undefined
        ? {}
        : { loadBudgetBytes: parseBytes('doctor', 'load-budget', loadBudget) }),
    });
    if (node && result.version) {
      // A field report carries load errors only: a bad signature says this node's copy is not the
      // registry's, not that the version fails to load.
      const worst = mostSevere(result.findings.filter(isLoadErrorFinding));
      if (!worst && result.findings.length > 0)
        io.err(
          'warning: the field report was not sent: SIGNATURE_INVALID is about this copy, not a load error a field report carries',
        );
      else
        await reportQuietly(
          io,
          client(),
          result.version,
          node,
          worst ? { code: worst.code, message: `doctor: ${worst.message}` } : undefined,
        );
    }
    print(
      { ok: result.ok, version: result.version ?? null, findings: result.findings, checks: result.checks },
      () => humanLines(result),
    );
    return result.exitCode;
  },
});

function humanLines(result: DoctorResult): string[] {
  const head = result.version
    ? `${result.dir}: ${result.version.model}@${result.version.version} (provider ${result.version.provider})`
    : result.dir;
  const checks = result.checks.map((c) => `  ${c.status.padEnd(7)} ${c.name.padEnd(13)} ${c.detail}`);
  const findings = result.findings.flatMap((f) => [
    `${f.code}\t${f.file ?? '-'}\t${f.message}`,
    `  fix: ${f.fix}`,
  ]);
  return [
    head,
    ...checks,
    ...(findings.length ? ['', ...findings] : []),
    result.ok ? 'all clear' : `${result.findings.length} finding(s)`,
  ];
}
