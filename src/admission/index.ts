/** Admission before a connection is served: the supervisor's hook, a descriptor-budget limit, a back-off, and counts of what was refused. */
export { type AdmissionHook, composeAdmission } from './admission-hook.js';
export { type Refusal } from './refusal.js';
export { ConnectionLimits, type ConnectionLimitsOptions, type ConnectionLimitName } from './connection-limits.js';
export {
  descriptorBudget,
  DEFAULT_DESCRIPTOR_RESERVE,
  type DescriptorBudget,
  type DescriptorBudgetOptions,
} from './descriptor-budget.js';
export {
  OverflowGuard,
  isDescriptorError,
  DESCRIPTOR_ERRORS,
  OVERFLOW_REASONS,
  EXHAUSTED_OPS,
  type OverflowGuardOptions,
  type OverflowGuardEvents,
  type OverflowReport,
  type OverflowReason,
  type OverflowTotals,
  type ExhaustedOp,
} from './overflow-guard.js';
