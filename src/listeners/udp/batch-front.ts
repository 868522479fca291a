// The native receive front-end of a UDP listener: a socket of the batch addon
// (batch-udp.ts, recvmmsg/sendmmsg). Datagrams arrive in arena slots 0..count-1; the source
// is compared as numbers from the slot's metadata, and the address text is built only when
// the port lookup misses. Replies leave from this socket, queued by the sessions' onBatch.
import type { UdpRouter } from './udp-router.js';
import { batchUdp, errnoError, META_FAMILY, META_LEN, META_PORT, type BatchOwner } from './batch-udp.js';

export class BatchFront implements BatchOwner {
  /** The socket's id in the addon, or -1 (not bound, or closed). */
  batchId = -1;

  constructor(private readonly router: UdpRouter, private readonly six: boolean, private readonly bufferBytes: number) {}

  /** Bind; throws the addon's errno error. */
  async listen(host: string, port: number): Promise<{ address: string; port: number }> {
    const batch = batchUdp!;
    try {
      this.batchId = batch.open(this, this.six ? 6 : 4, host, port, false, this.bufferBytes);
      batch.start(this.batchId);
    } catch (err) {
      if (this.batchId >= 0) batch.close(this.batchId);
      this.batchId = -1;
      throw err;
    }
    return batch.local(this.batchId);
  }

  reply(): void {
    // Replies are queued by the sessions on this socket (batch.send with the client's peer).
  }

  /** Datagrams the kernel refused to send since the last call (process-wide). */
  takeSendDrops(): number {
    return batchUdp!.takeSendDrops();
  }

  async close(): Promise<void> {
    if (this.batchId < 0) return;
    batchUdp!.close(this.batchId);
    this.batchId = -1;
  }

  onBatch(count: number): void {
    const r = this.router;
    if (count < 0) {
      r.socketError(errnoError('recvmmsg', count));
      return;
    }
    const batch = batchUdp!;
    const meta = batch.meta;
    const words = batch.metaWords;
    r.datagramsIn += count;
    for (let i = 0; i < count; i++) {
      const o = i * words;
      const port = meta[o + META_PORT]!;
      let existing = r.byPort.get(port);
      let address: string | null = null;
      let key: string | null = null;
      if (existing === undefined || !existing.sameSource(meta, o)) {
        address = batch.slotAddress(i);
        key = address + ' ' + port;
        existing = r.sessions.get(key);
        if (existing !== undefined) r.byPort.set(port, existing);
      }
      if (existing !== undefined) {
        if (existing.backend.state !== 'down') {
          existing.sendSlot(i, meta[o + META_LEN]!);
          continue;
        }
        existing.close('backend_closed', 'backend_down');
      }
      address ??= batch.slotAddress(i);
      const family = meta[o + META_FAMILY] === 4 ? 'IPv4' : 'IPv6';
      r.openSession(key ?? address + ' ' + port, address, family, port, i)?.sendSlot(i, meta[o + META_LEN]!);
    }
  }
}
