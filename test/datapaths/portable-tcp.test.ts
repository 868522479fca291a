// The TCP behaviour suites again, on the portable data path (node:net only): every case of
// test/listeners/tcp/ runs here with [global] datapath = "portable" (test/support/lb.ts sets
// it on every in-process balancer and checks each listener runs on it), while the files
// themselves run on the default path (native where the addons built). Faults and bytes must
// be the same on both.
process.env['LB_TEST_DATAPATH'] = 'portable';

await import('../listeners/tcp/stream.test.js');
await import('../listeners/tcp/half-close-end-reason.test.js');
await import('../listeners/tcp/reset-with-data.test.js');
await import('../listeners/tcp/failures.test.js');
await import('../listeners/tcp/retry-detail.test.js');
await import('../listeners/tcp/backpressure.test.js');
await import('../listeners/tcp/client-gone-upstream-stuck.test.js');
await import('../listeners/tcp/urgent-data.test.js');
await import('../listeners/tcp/admission.test.js');
