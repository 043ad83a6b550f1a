import { FAILURE_EXPLANATIONS, INTEGRITY_ONLY, wasLoadTested } from '../../core/failure-explanations.js';
import type { FileReport } from '../../schemas/report.schema.js';
import type { Version } from '../../schemas/version.schema.js';
import { parse, parseRef } from '../args.js';
import {
  type Command,
  clientFor,
  formatBytes,
  printJson,
  REGISTRY_HELP,
  REGISTRY_OPTION,
} from '../command.js';
import { EXIT } from '../exit-codes.js';
import { encode } from '../registry-client.js';

const HELP = `Usage: modelgate status NAME@VERSION|ALIAS [--json]

Shows a version's state, its files and its latest validation report (load time, peak memory,
smoke inference, and the cause of a failure with the runbook step that fixes it).

Options:
  --json          print the version as one JSON document
${REGISTRY_HELP}

Exit codes: 0 shown, 2 usage, 4 unknown model/version/alias, 1 unexpected.`;

export const statusCommand: Command = {
  name: 'status',
  summary: 'show a version, its validation report and why it failed',
  help: HELP,
  async run(argv, io) {
    const { values, positionals } = parse('status', argv, { ...REGISTRY_OPTION, json: { type: 'boolean' } });
    if (values.help) {
      io.out(HELP);
      return EXIT.OK;
    }
    const { name, ref } = parseRef('status', positionals[0], 'NAME@VERSION|ALIAS');
    const v = await clientFor(io, values.registry).get<Version>(
      `api/v1/models/${encode(name)}/resolve/${encode(ref)}`,
    );
    if (values.json) printJson(io, withLoadTested(v));
    else io.out(describeVersion(v));
    return EXIT.OK;
  },
};

export function describeVersion(v: Version): string {
  const lines = [
    `${v.model}@${v.version}  ${v.status}`,
    `  provider ${v.provider}, seq ${v.seq}, ${v.files.length} file(s), ${formatBytes(v.totalSize)}, published ${v.createdAt} by ${v.publisher}`,
  ];
  for (const f of v.files)
    lines.push(`  ${f.sha256.slice(0, 12)}  ${formatBytes(f.size).padStart(10)}  ${f.path}`);
  const r = v.report;
  if (r) {
    // Nothing may say a runtime passed the version unless a runtime loaded something of it.
    // A failure is a failure whatever was loaded: "integrity only" describes what a pass proved.
    lines.push(
      wasLoadTested(r)
        ? `  validation: ${r.outcome} on ${r.runtime.name} ${r.runtime.version} (${r.executionProvider}), ${Math.round(r.durationMs)} ms, peak RSS ${formatBytes(r.totals.peakRssBytes)}, budget ${formatBytes(r.memoryBudgetBytes)}`
        : r.outcome === 'passed'
          ? `  validation: passed, ${INTEGRITY_ONLY}, ${Math.round(r.durationMs)} ms`
          : `  validation: failed before any runtime ran the version, ${Math.round(r.durationMs)} ms`,
    );
    for (const f of r.files) {
      const timing =
        f.check === 'loaded'
          ? `load ${f.loadMs?.toFixed(0)} ms, run ${f.inferenceMs?.toFixed(1)} ms, peak ${formatBytes(f.peakRssBytes ?? 0)}`
          : f.check === 'inspected'
            ? `structure inspected (${f.detectedFormat ?? f.format}), not loaded by a runtime`
            : 'integrity checked';
      lines.push(
        `    ${f.ok ? 'ok  ' : 'FAIL'} ${f.path}: ${f.error ? `${f.error.code}: ${f.error.message}` : timing}`,
      );
      lines.push(...describeSmokeRun(f));
    }
    for (const c of r.nodeClasses)
      lines.push(`    node class ${c.nodeClass}: ${c.fits ? 'fits' : 'does not fit'} (${c.reason})`);
  }
  if (v.status === 'FAILED') lines.push(describeFailure(v));
  if (v.deprecation)
    lines.push(`  deprecated ${v.deprecation.at}${v.deprecation.reason ? `: ${v.deprecation.reason}` : ''}`);
  return lines.join('\n');
}

/** What the smoke run fed (per input: shape, values, source), the failed probes before it, and notes. */
export function describeSmokeRun(f: FileReport): string[] {
  const lines: string[] = [];
  if (f.smokeRun === 'skipped') lines.push('         smoke run skipped (load proven)');
  for (const i of f.fedInputs ?? [])
    lines.push(`         fed ${i.name} ${i.type}[${i.shape.join(',')}] ${i.value} (${i.source})`);
  if (f.probes?.length) lines.push(`         ${f.probes.length} smoke run(s) failed before:`);
  for (const p of f.probes ?? [])
    lines.push(
      `           ${p.inputs.map((i) => `${i.name}[${i.shape.join(',')}] ${i.value}`).join('; ')} → ${p.error.split('\n')[0]?.slice(0, 160)}`,
    );
  for (const n of f.notes ?? []) lines.push(`         note: ${n}`);
  return lines;
}

/** One line: the failure code, the runtime's message, and what to do (the runbook step). */
export function describeFailure(v: Version): string {
  const e = v.statusReason ?? v.report?.error;
  if (!e) return `${v.model}@${v.version} FAILED`;
  const x = FAILURE_EXPLANATIONS[e.code];
  return `error ${e.code}: ${e.message}${e.file ? ` (${e.file})` : ''}: ${x.cause}; fix: ${x.fix} [runbook: ${x.runbookStep}]`;
}

/**
 * `loadTested` and, for a version no runtime loaded, the integrity-only note: what `status --json` and
 * `fetch --json` put on top, so a script reading only the top level cannot take it for a runtime-tested one.
 */
export function loadTestedFields(v: Version): { loadTested?: boolean; note?: string } {
  if (!v.report) return {};
  const loadTested = wasLoadTested(v.report);
  return { loadTested, ...(loadTested ? {} : { note: INTEGRITY_ONLY }) };
}

function withLoadTested(v: Version): Version & { loadTested?: boolean; note?: string } {
  return { ...v, ...loadTestedFields(v) };
}
