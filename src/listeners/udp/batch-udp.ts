// The batched datagram path: lb's own addon (native/udp_batch.cc, built by `npm ci`) moves
// datagrams with recvmmsg/sendmmsg on sockets polled by the event loop. One call into
// JavaScript carries up to BATCH datagrams, received into one arena that is allocated once;
// the hot path creates no Buffer, no address object and no send request per datagram.
// Node 20's dgram does all three per datagram, plus a 64 KiB allocation, and that kept lb's
// UDP relay below NGINX stream's (18k vs 33k datagrams/s on one bench machine, 40-46k vs 48k
// on another); batched, lb relayed 54-70k against NGINX's 48-51k (docs/benchmarks.md).
//
// Each socket has one owner (a listener or a session) whose onBatch(count) is called with the
// number of datagrams now in the arena's slots 0..count-1, or a negative errno. While it runs
// it may queue sends that name those slots; they leave when it returns. `batchUdp` is null
// when the addon did not build or load (`batchUdpReason` says why); UDP listeners then run on
// the portable path (node:dgram).
import { loadAddon } from '../native-addon.js';
import { errname } from '../errno.js';

/** The addon's calls, as native/udp_batch.cc defines them. */
interface Addon {
  readonly BATCH: number;
  readonly SLOT: number;
  readonly META_WORDS: number;
  init(arena: Buffer, meta: Int32Array, callback: (id: number, count: number) => void): void;
  /** A socket bound to host:port (port -1: left unbound); throws an errno error. */
  open(family: 4 | 6, host: string, port: number, v6only: boolean, bufferBytes: number): number;
  connect(id: number, host: string, port: number): void;
  /** Start receiving: the owner's onBatch runs from now on. */
  start(id: number): void;
  local(id: number): [string, number];
  /** Source address (text) of the datagram in a slot: only for new sessions, not per datagram. */
  slotAddress(slot: number): string;
  /** Keep a slot's source address as a reply destination; returns its id. */
  peer(slot: number): number;
  freePeer(peer: number): void;
  /** Queue the datagram in `slot` on socket `id`, to `peer` (-1: the connected peer). */
  send(id: number, slot: number, peer: number): void;
  /** Send a datagram held in a Buffer now; 0 or a negative errno. */
  sendBuffer(id: number, buf: Buffer, peer: number): number;
  /** Bytes sent in front of every datagram on the socket (a PROXY v2 header). */
  setPrefix(id: number, prefix: Buffer | null): void;
  close(id: number): void;
  /** Datagrams dropped on send (full socket buffer, ICMP error) since start. */
  sendDrops(): number;
}

export interface BatchOwner {
  /** Datagrams in slots 0..count-1 of the arena (count > 0), or a negative errno. */
  onBatch(count: number): void;
}

/** Meta words per slot: [length, source port, family 4|6, source address as 4 words, unused]. */
export const META_LEN = 0;
export const META_PORT = 1;
export const META_FAMILY = 2;
export const META_ADDR = 3;

/** The addon's calls as lb uses them: sockets have owners, and a few conveniences. */
export type BatchUdp = Pick<Addon, 'connect' | 'start' | 'slotAddress' | 'peer' | 'freePeer' | 'send' | 'sendBuffer' | 'setPrefix' | 'close'> & {
  readonly arena: Buffer;
  readonly meta: Int32Array;
  readonly slotBytes: number;
  readonly metaWords: number;
  /** Addon.open, with the socket's batches going to `owner`. */
  open(owner: BatchOwner, family: 4 | 6, host: string, port: number, v6only: boolean, bufferBytes: number): number;
  local(id: number): { address: string; port: number };
  /** A copy of the datagram in a slot (for datagrams that must outlive the batch). */
  copySlot(slot: number): Buffer;
  /** Datagrams dropped on send since the last call. */
  takeSendDrops(): number;
};

/** An Error shaped like Node's errno errors ({ code, syscall }) for a negative errno. */
export function errnoError(syscall: string, status: number): NodeJS.ErrnoException {
  const code = errname(status);
  return Object.assign(new Error(`${syscall} ${code}`), { code, errno: status, syscall });
}

function load(): { batch: BatchUdp; reason: null } | { batch: null; reason: string } {
  const loaded = loadAddon<Addon>('udp_batch');
  if (loaded.addon === null) return { batch: null, reason: loaded.reason };
  const addon = loaded.addon;
  const arena = Buffer.allocUnsafeSlow(addon.BATCH * addon.SLOT);
  const meta = new Int32Array(addon.BATCH * addon.META_WORDS);
  const owners: (BatchOwner | undefined)[] = [];
  try {
    addon.init(arena, meta, (id, count) => {
      owners[id]?.onBatch(count);
    });
  } catch (err) {
    return { batch: null, reason: `init failed: ${(err as Error).message}` };
  }
  const slotBytes = addon.SLOT;
  let seenDrops = 0;
  const batch: BatchUdp = {
    arena,
    meta,
    slotBytes,
    metaWords: addon.META_WORDS,
    open(owner, family, host, port, v6only, bufferBytes) {
      const id = addon.open(family, host, port, v6only, bufferBytes);
      owners[id] = owner;
      return id;
    },
    connect: addon.connect,
    start: addon.start,
    local(id) {
      const [address, port] = addon.local(id);
      return { address, port };
    },
    slotAddress: addon.slotAddress,
    peer: addon.peer,
    freePeer: addon.freePeer,
    send: addon.send,
    sendBuffer: addon.sendBuffer,
    setPrefix: addon.setPrefix,
    close(id) {
      owners[id] = undefined;
      addon.close(id);
    },
    copySlot(slot) {
      const start = slot * slotBytes;
      return Buffer.from(arena.subarray(start, start + meta[slot * addon.META_WORDS + META_LEN]!));
    },
    takeSendDrops() {
      const total = addon.sendDrops();
      const delta = total - seenDrops;
      seenDrops = total;
      return delta;
    },
  };
  return { batch, reason: null };
}

const loaded = load();
/** The batched path, or null when it is not available here. */
export const batchUdp: BatchUdp | null = loaded.batch;
/** Why the batched path is not available (null when it is). */
export const batchUdpReason: string | null = loaded.reason;
