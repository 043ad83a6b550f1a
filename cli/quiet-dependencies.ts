/**
 * Keeps dependencies' advice for their own maintainers off a CLI user's terminal. Imported first by the
 * CLI entry point only; library and Lambda code are unaffected.
 *
 * The AWS SDK (loaded lazily by `serve` on the aws backend and by SigV4 signing) warns once per process
 * that its releases after January 2027 need Node 22 (`NodeVersionSupportWarning`, emitted when a client
 * is constructed). The variable below is the SDK's own switch for that one warning
 * (`@aws-sdk/core` client submodule, `emitWarningIfUnsupportedVersion`); every other Node warning still
 * prints. A user who sets the variable themselves keeps their value.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
