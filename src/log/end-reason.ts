// Why a session ended: SPEC's list. The first cause wins (HAProxy's termination_state idea):
// a session records one reason and logs it once.
export const END_REASONS = [
  'client_closed',
  'backend_closed',
  'idle_timeout',
  'connect_failed',
  'no_backend',
  'denied',
  'drained',
  'shutdown',
  'error',
] as const;

export type EndReason = (typeof END_REASONS)[number];
