/**
 * The library behind `gg`: `import { ... } from 'gg-ts'`. The SDK builds thunks; the force API opens a store and an
 * engine (`openRuntime`) and forces targets or thunk refs to values, reporting through callbacks, never stdout.
 * Heavy parts (the Redis and S3 clients, the jail) load only when a runtime uses them.
 */
export { GgError, isGgError, type GgErrorCode, type GgErrorOptions } from './errors.js';
export { computeName, isValidName, joinTag, splitTag, type OutputRef } from './ir/name.js';
export { decodeThunk, encodeThunk, thunkName, type Thunk, type ThunkFunction, type ThunkInput } from './ir/thunk.js';
export { placeholderContent, readPlaceholder, writePlaceholder, type PlaceholderKind } from './ir/placeholder.js';
export {
  defineThunk,
  GraphBuilder,
  nameThunk,
  thunkHandle,
  writeThunk,
  type ExecutableFile,
  type InputSpec,
  type ThunkSpec,
  type Toolset,
  type WrittenThunk,
} from './frontend/sdk.js';
export { createThunk, type CreateThunkRequest } from './frontend/create-thunk.js';
export {
  forceRefs,
  forceTargets,
  showThunkLogs,
  verifyTargets,
  type ForceContext,
  type ForceReport,
  type ForceTargetsOptions,
  type TargetReport,
  type VerifyReport,
} from './force/force-command.js';
export { nondeterminismError, verifyRefs, type OutputDifference, type VerifyOutcome } from './force/verify.js';
export { defaultJobs, openLocalStore, openRuntime, type Runtime, type RuntimeOptions } from './runtime.js';
export { openStore } from './store/open-store.js';
export type { Store } from './store/store.js';
