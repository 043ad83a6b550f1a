import { freemem } from 'node:os';
import { mostSevere } from '../../core/node-doctor.js';
import { parseBytes } from '../args.js';
import { CliError } from '../cli-error.js';
import { defineCommand, jsonOption, REGISTRY_OPTION } from '../command.js';
import { type DoctorResult, runDoctor } from '../node/doctor.js';
import { checkNodeId, reportQuietly } from './report.command.js';

export const doctorCommand = defineCommand({
  name: 'doctor',
  summary: "check this node for a fetched folder: the runbook's investigation in one command",
  usage: 'doctor DIR [--load] [--free-memory B|auto] [--load-budget B] [--json] [--report [--node ID]]',
  description:
    'Runs RUNBOOK-MODEL_LOAD_ERROR.md\'s investigation, in its order, on a folder written by `modelgate fetch`:\nevery file present and matching its sha256, no extra files ("Check model files"); files 0644 and folders\n0755, with owner and SELinux context ("Verify permissions"); MemAvailable against the version\'s profiled\npeak × 1.5, free disk against the next version\'s size, a GPU and driver when the version was validated on\none ("Analyze resource constraints"); this node\'s onnxruntime version and execution providers against\nthe validation\'s, and the models\' IR version and opsets against this runtime ("Dependencies"). With\n--load, each model is loaded and smoke-run in an isolated child with the version\'s recorded inputs\n("Test model loading directly"). Each finding names its code, the file, what was seen and the runbook\nstep that fixes it.',
  options: {
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
    "0 all clear, 2 usage, 6 integrity (FILE_MISSING, CHECKSUM_MISMATCH), 5 memory (INSUFFICIENT_MEMORY),\n7 this node's environment (PERMISSION_DENIED, INSUFFICIENT_DISK, GPU_UNAVAILABLE, DEPENDENCY_MISSING,\nUNSUPPORTED_MODEL, or a load that fails here); with several findings, the most severe in that order",
  async run({ values, positionals, io, client, print }) {
    const dir = positionals[0];
    if (!dir) throw CliError.usage('missing DIR', 'doctor');
    const free = values['free-memory'];
    const freeMemoryBytes =
      free === undefined || free === 'auto' ? undefined : parseBytes('doctor', 'free-memory', free);
    const loadBudget = values['load-budget'];
    const node = values.report ? checkNodeId('doctor', values.node) : undefined;
    const result = await runDoctor({
      dir,
      load: values.load === true,
      freeMemoryBytes: freeMemoryBytes ?? (free === 'auto' ? freemem() : undefined),
      ...(loadBudget === undefined
        ? {}
        : { loadBudgetBytes: parseBytes('doctor', 'load-budget', loadBudget) }),
    });
    if (node && result.version) {
      const worst = mostSevere(result.findings);
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
