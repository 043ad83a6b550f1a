import type { ErrorCode } from '../schemas/error-codes.schema.js';
import { EXIT, exitCodeOf, HINTS } from './exit-codes.js';

/** An error the CLI reports as one line, `error CODE: message (what to do)`, and exits with. */
export class CliError extends Error {
  constructor(
    readonly code:
      | ErrorCode
      | 'USAGE'
      | 'UNREACHABLE'
      | 'VALIDATION_FAILED'
      | 'UNSAFE_PLAN'
      | 'SIGNATURE_INVALID',
    message: string,
    readonly exitCode: number,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  static usage(message: string, command?: string): CliError {
    return new CliError(
      'USAGE',
      `${message} (see \`modelgate ${command ? `${command} ` : ''}--help\`)`,
      EXIT.USAGE,
    );
  }

  static fromApi(code: ErrorCode, message: string, details?: Record<string, unknown>): CliError {
    const hint = HINTS[code];
    return new CliError(code, hint ? `${message}: ${hint}` : message, exitCodeOf(code), details);
  }
}
