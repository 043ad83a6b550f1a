import { addModelgateStacks, createApp } from './modelgate-app.js';

/** `npx cdk synth` (cdk.json runs this with tsx). Stacks and checks are in modelgate-app.ts. */
const app = createApp();
addModelgateStacks(app);
app.synth();
