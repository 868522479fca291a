// The UDP and PROXY-header behaviour suites again, on the portable data path (node:dgram,
// node:net): see portable-tcp.test.ts.
process.env['LB_TEST_DATAPATH'] = 'portable';

await import('../listeners/udp/udp.test.js');
await import('../listeners/proxy-protocol-lb.test.js');
