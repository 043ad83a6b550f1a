import { ModelName } from '../schemas/names.schema.js';
import { CliError } from './cli-error.js';

/** NAME@REF, checked against the registry's grammar before any request. */
export function parseRef(
  command: string,
  text: string | undefined,
  what = 'NAME@VERSION',
): { name: string; ref: string } {
  if (!text) throw CliError.usage(`missing ${what}`, command);
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1) throw CliError.usage(`expected ${what}, got "${text}"`, command);
  const name = text.slice(0, at);
  const ref = text.slice(at + 1);
  const parsed = ModelName.safeParse(name);
  if (!parsed.success)
    throw CliError.usage(`model name "${name}" ${parsed.error.issues[0]?.message}`, command);
  return { name, ref };
}

/** Parses 1024, 512MiB, 4GiB, 2G … into bytes. */
export function parseBytes(command: string, flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?$/i.exec(text.trim());
  if (!m) throw CliError.usage(`--${flag} expects bytes like 4GiB or 512MiB, got "${text}"`, command);
  const unit = (m[2] ?? 'b').toLowerCase();
  const power = { b: 0, k: 1, m: 2, g: 3, t: 4 }[unit[0] as 'b' | 'k' | 'm' | 'g' | 't'];
  const base = unit.length === 2 && unit.endsWith('b') && unit !== 'b' ? 1000 : 1024;
  return Math.round(Number(m[1]) * base ** power);
}
