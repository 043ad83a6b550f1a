import { RegistryClient } from './registry-client.js';
import { executeApiRegion, sigv4Signer } from './sigv4.js';

export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Full --help text. */
  readonly help: string;
  run(argv: string[], io: Io): Promise<number>;
}

export interface Io {
  readonly env: NodeJS.ProcessEnv;
  out(line: string): void;
  err(line: string): void;
  /** True when stderr is a terminal: progress bars only then. */
  readonly interactive: boolean;
}

export const REGISTRY_OPTION = { registry: { type: 'string' } } as const;
export const REGISTRY_HELP = `  --registry URL    registry to talk to (default: $MODELGATE_REGISTRY or http://127.0.0.1:8080)`;

/** A client of the chosen registry; one on API Gateway gets its requests signed with SigV4. */
export function clientFor(io: Io, registryFlag: string | undefined): RegistryClient {
  const registry = registryFlag ?? io.env.MODELGATE_REGISTRY ?? 'http://127.0.0.1:8080';
  const region = io.env.MODELGATE_AWS_REGION ?? executeApiRegion(registry);
  return new RegistryClient({
    registry,
    token: io.env.MODELGATE_TOKEN,
    sign: region ? sigv4Signer(region) : undefined,
  });
}

export const printJson = (io: Io, value: unknown) => io.out(JSON.stringify(value, null, 2));

/** A one-line progress bar on stderr, redrawn at most every 100 ms, only on a terminal. */
export function progressBar(
  io: Io,
  label: string,
  total: number,
): { update(done: number): void; finish(): void } {
  if (!io.interactive || total === 0) return { update: () => {}, finish: () => {} };
  let last = 0;
  const draw = (done: number) => {
    const share = Math.min(1, done / total);
    const width = 30;
    const bar = '#'.repeat(Math.round(share * width)).padEnd(width, '.');
    process.stderr.write(
      `\r${label} [${bar}] ${(share * 100).toFixed(0).padStart(3)}% ${formatBytes(done)}/${formatBytes(total)}  `,
    );
  };
  return {
    update(done) {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      draw(done);
    },
    finish() {
      draw(total);
      process.stderr.write('\n');
    },
  };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}
