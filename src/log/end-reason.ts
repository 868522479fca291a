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
  // milestone 2
  'client_reset',
  'backend_reset',
  'local_error',
  'queue_timeout',
  'rate_limited',
  'bad_proxy_header',
  'no_route',
] as const;

export type EndReason = (typeof END_REASONS)[number];
