import type { ProviderSummary } from '../../schemas/health.schema.js';
import { ProviderName } from '../../schemas/names.schema.js';
import type { ProviderRecord } from '../../schemas/provider.schema.js';
import { RampSteps } from '../../schemas/provider.schema.js';
import { CliError } from '../cli-error.js';
import { defineCommand, jsonOption, printJson, REGISTRY_OPTION } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { encode } from '../registry-client.js';

/** 30s, 5m, 1h, or plain seconds. */
export function parseDurationSeconds(command: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text.trim());
  if (!m) throw CliError.usage(`--step expects a duration like 30s, 5m or 1h, got "${text}"`, command);
  const seconds = Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 's' | 'm' | 'h'];
  if (seconds < 1) throw CliError.usage('--step must be at least 1s', command);
  return Math.round(seconds);
}

function parseRamp(text: string): number[] {
  const steps = text.split(',').map((p) => Number(p.trim()));
  const r = RampSteps.safeParse(steps);
  if (!r.success) throw CliError.usage(`--ramp ${text}: ${r.error.issues[0]?.message}`, 'provider');
  return r.data;
}

function providerName(text: string | undefined): string {
  if (!text) throw CliError.usage('missing NAME', 'provider');
  if (!ProviderName.safeParse(text).success)
    throw CliError.usage(`provider "${text}" must match ^[a-z0-9][a-z0-9._-]{0,63}$`, 'provider');
  return text;
}

function describeProvider(p: ProviderSummary): string {
  const score = p.healthScore.toFixed(2);
  const extra =
    p.state === 'disabled'
      ? `  disabled: ${p.reason ?? ''}`
      : p.state === 'ramping'
        ? `  ramping: ${p.admitPercent}% of nodes`
        : '';
  return `${p.name.padEnd(16)} ${p.status.padEnd(9)} score ${score}  ${String(p.currentVersion ?? '-').padEnd(28)} model_loaded=${p.model_loaded}${extra}`;
}

export const providerCommand = defineCommand({
  name: 'provider',
  summary: 'list, disable or (gradually) enable providers',
  usage: [
    'provider list                              status, health score, current version of each provider',
    "provider disable NAME --reason R           refuse every fetch of the provider's versions (exit 4)",
    'provider enable NAME [--ramp 1,10,100 --step 5m]',
    '                                           enable at once, or admit that share of fetching nodes',
    '                                           (by node id) at each step; a failure report during the',
    '                                           ramp rolls it back to disabled',
  ],
  description: 'The runbook\'s "Prevent cascade failures" and "Re-enable provider".',
  options: {
    reason: { type: 'string', arg: 'R', help: 'why (shown to every refused fetch)' },
    ramp: { type: 'string', arg: 'P,P,..', help: 'ascending percentages of nodes, the last 100' },
    step: { type: 'string', arg: 'D', help: 'time per step: 30s, 5m, 1h (default 5m)' },
    ...jsonOption('the result'),
    ...REGISTRY_OPTION,
  },
  notes: "DISABLED_PROVIDERS in the server's environment disables providers at start.",
  exitCodes: '0 done, 2 usage, 4 unknown provider, 1 unexpected',
  async run({ values, positionals, io, client: registry, print }) {
    const client = registry();
    const [action, rawName] = positionals;
    if (action === 'list') {
      const providers = await client.get<ProviderSummary[]>('api/v1/providers');
      print(providers, () => providers.map((p) => describeProvider(p)));
      return EXIT.OK;
    }
    if (action === 'disable') {
      const name = providerName(rawName);
      if (!values.reason)
        throw CliError.usage('--reason R is required: it is shown to every refused fetch', 'provider');
      const p = await client.post<ProviderRecord>(`api/v1/providers/${encode(name)}/disable`, {
        reason: values.reason,
      });
      print(p, () => `provider ${name} disabled: ${values.reason}`);
      return EXIT.OK;
    }
    if (action === 'enable') {
      const name = providerName(rawName);
      if (values.step && !values.ramp) throw CliError.usage('--step needs --ramp', 'provider');
      const ramp = values.ramp ? parseRamp(values.ramp) : undefined;
      const stepSeconds = values.step ? parseDurationSeconds('provider', values.step) : 300;
      const p = await client.post<ProviderRecord>(
        `api/v1/providers/${encode(name)}/enable`,
        ramp ? { ramp, stepSeconds } : {},
      );
      if (values.json) printJson(io, p);
      else if (p.state === 'ramping')
        io.out(
          `provider ${name} ramping: ${p.ramp?.steps.join('% → ')}% of nodes, one step every ${stepSeconds}s`,
        );
      else io.out(`provider ${name} enabled`);
      return EXIT.OK;
    }
    throw CliError.usage(
      `unknown provider action "${action ?? ''}": use list, disable or enable`,
      'provider',
    );
  },
});
