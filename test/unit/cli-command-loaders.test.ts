import { describe, expect, it } from 'vitest';
import { COMMAND_LOADERS } from '../../cli/commands/command-loaders.js';

describe('the CLI loads each command by name', () => {
  it('maps every name to the command of that name, each with a summary for --help', async () => {
    const names = Object.keys(COMMAND_LOADERS);
    expect(names.length).toBeGreaterThanOrEqual(16);
    for (const name of names) {
      const command = await COMMAND_LOADERS[name]!();
      expect(command.name, `loader "${name}"`).toBe(name);
      expect(command.summary.length, `summary of ${name}`).toBeGreaterThan(0);
    }
  });
});
