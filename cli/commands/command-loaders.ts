import type { Command } from '../command.js';

/**
 * Every command by name, in `--help`'s order, each loaded only when it runs: a node's `fetch` or
 * `verify` does not start up `serve`'s server, `doctor`'s validator or the AWS SDK (measured: the CLI's
 * start with every command loaded cost about 0.25 s and 30 MB over bare Node).
 */
export const COMMAND_LOADERS: Readonly<Record<string, () => Promise<Command>>> = {
  publish: () => import('./publish.command.js').then((m) => m.publishCommand),
  status: () => import('./status.command.js').then((m) => m.statusCommand),
  list: () => import('./list.command.js').then((m) => m.listCommand),
  alias: () => import('./alias.command.js').then((m) => m.aliasCommand),
  fetch: () => import('./fetch.command.js').then((m) => m.fetchCommand),
  verify: () => import('./verify.command.js').then((m) => m.verifyCommand),
  doctor: () => import('./doctor.command.js').then((m) => m.doctorCommand),
  sync: () => import('./sync.command.js').then((m) => m.syncCommand),
  validate: () => import('./validate.command.js').then((m) => m.validateCommand),
  report: () => import('./report.command.js').then((m) => m.reportCommand),
  provider: () => import('./provider.command.js').then((m) => m.providerCommand),
  release: () => import('./release.command.js').then((m) => m.releaseCommand),
  scrub: () => import('./scrub.command.js').then((m) => m.scrubCommand),
  deprecate: () => import('./deprecate.command.js').then((m) => m.deprecateCommand),
  serve: () => import('./serve.command.js').then((m) => m.serveCommand),
  'signing-key': () => import('./signing-key.command.js').then((m) => m.signingKeyCommand),
};
