import type { Context } from 'aws-lambda';

/**
 * The parts of a Lambda context the handlers may read, for one local request: the request id (logged
 * and echoed in error bodies) and fixed names; the remaining time is API Gateway's 30 s.
 */
export function lambdaContext(requestId: string): Context {
  return {
    awsRequestId: requestId,
    functionName: 'modelgate-local',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:modelgate-local',
    memoryLimitInMB: '0',
    logGroupName: 'local',
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
