// Batched UDP for lb's datagram path: recvmmsg/sendmmsg on sockets polled by the Node event
// loop (uv_poll_t), so one trip into JavaScript carries up to BATCH datagrams and one system
// call sends every datagram queued for a socket during that trip.
//
// Why: Node 20's dgram (udp_wrap) does one recvmsg, one 64 KiB allocation, one Buffer, one
// rinfo object and one JavaScript call per datagram, and one send request object per send.
// That per-datagram cost, not lb's JavaScript, capped lb's UDP relay (see docs/benchmarks.md).
//
// Model: JavaScript owns an arena (BATCH slots of SLOT bytes) and a metadata Int32Array, and
// hands both over once (init). For each readable socket the poll callback receives into the
// arena, writes per slot {length, port, family, 4 address words}, and calls the one
// JavaScript callback with (socket id, count). The callback queues sends that name arena
// slots (send / sendTo); they are flushed with sendmmsg when it returns, before the arena is
// reused. Sends outside a batch (sendBuffer) go out at once with sendmsg. A failed send is a
// dropped datagram (UDP gives no delivery promise): counted, and ECONNREFUSED (ICMP port
// unreachable from a connected peer) is reported to JavaScript as a negative count.
//
// Everything runs on the event loop thread; no locks, no threads.
#include <node_api.h>
#include <uv.h>

#include "napi_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace {

using lbnative::ThrowErrno;

using lbnative::AddressPair;
using lbnative::GetArgs;
using lbnative::Undefined;

constexpr int kBatch = 32;
constexpr size_t kSlot = 65536;
constexpr int kMetaWords = 8;  // len, port, family, a0, a1, a2, a3, (unused)
// One batch per readable event, then the loop serves other sockets, as libuv does for dgram
// (32 datagrams per wake); the poll is level-triggered, so what is left wakes it again. Eight
// batches per wake let a burst of 1,000 datagrams from one socket overrun the receive buffers
// of the backends it fans out to before they could read.
// A slot holds any UDP payload (at most 65,507 bytes over IPv4, 65,527 over IPv6), so no
// datagram is truncated.

struct State;

struct Sock {
  State* st = nullptr;  // the addon instance it belongs to
  uv_poll_t poll;
  int fd = -1;
  int id = -1;
  bool connected = false;
  std::vector<uint8_t> prefix;  // PROXY v2 header sent in front of every datagram
};

struct Pending {
  Sock* sock;
  int slot;
  int len;
  int peer;  // -1: connected send
};

// One instance of the addon (per environment: the main thread, each worker, each load), made
// by ModuleInit; the exported functions get it as their data, the poll callback from its socket.
struct State {
  napi_env env = nullptr;
  napi_ref callback = nullptr;
  napi_ref arenaRef = nullptr;
  napi_ref metaRef = nullptr;
  napi_async_context actx = nullptr;
  uint8_t* arena = nullptr;
  int32_t* meta = nullptr;
  bool inBatch = false;
  int batchCount = 0;  // datagrams in the arena during the current batch callback
  mmsghdr rmsgs[kBatch];
  iovec riov[kBatch];
  sockaddr_storage raddr[kBatch];
  std::vector<Pending> queue;
  lbnative::IdTable<Sock> socks;
  std::vector<sockaddr_storage> peers;
  std::vector<socklen_t> peerLens;
  std::vector<bool> peerLive;
  std::vector<int> freePeers;
  std::vector<Sock*> refused;  // sockets whose send saw ECONNREFUSED in the last flush
  double sendDrops = 0;
};

// An int32 argument; false (with a TypeError thrown) when it is not a number.
bool IntArg(napi_env env, napi_value v, int32_t* out) {
  if (napi_get_value_int32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, nullptr, "expected a number");
    return false;
  }
  return true;
}

int32_t Int(napi_env env, napi_value v) {
  int32_t out = -1;
  napi_get_value_int32(env, v, &out);
  return out;
}

// An IP literal argument (at most 63 bytes); false (with a TypeError thrown) otherwise.
bool HostArg(napi_env env, napi_value v, char (&host)[64]) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, host, sizeof host, &len) != napi_ok || len >= sizeof host - 1) {
    napi_throw_type_error(env, nullptr, "expected an IP address string");
    return false;
  }
  return true;
}

Sock* SockOf(napi_env env, State* st, napi_value v) {
  int32_t id;
  if (!IntArg(env, v, &id)) return nullptr;
  if (st->socks.Get(id) == nullptr) {
    napi_throw_range_error(env, nullptr, "no such socket");
    return nullptr;
  }
  return st->socks.Get(id);
}

// "1.2.3.4" / "::1" + port → sockaddr. family 6 with an IPv4 literal gives ::ffff:a.b.c.d.
bool ParseAddr(const char* host, int port, int family, sockaddr_storage* out, socklen_t* len) {
  memset(out, 0, sizeof *out);
  if (family == 4) {
    auto* a = reinterpret_cast<sockaddr_in*>(out);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    if (host[0] != 0 && inet_pton(AF_INET, host, &a->sin_addr) != 1) return false;
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* a = reinterpret_cast<sockaddr_in6*>(out);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  if (host[0] != 0 && inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
    in_addr v4;
    if (inet_pton(AF_INET, host, &v4) != 1) return false;
    a->sin6_addr.s6_addr[10] = 0xff;
    a->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&a->sin6_addr.s6_addr[12], &v4, 4);
  }
  *len = sizeof(sockaddr_in6);
  return true;
}

void FillMeta(State* st, int i, const sockaddr_storage& sa, int len) {
  int32_t* m = st->meta + i * kMetaWords;
  m[0] = len;
  if (sa.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&sa);
    m[1] = ntohs(a->sin_port);
    m[2] = 4;
    memcpy(&m[3], &a->sin_addr, 4);
    m[4] = m[5] = m[6] = 0;
  } else {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&sa);
    m[1] = ntohs(a->sin6_port);
    m[2] = 6;
    memcpy(&m[3], &a->sin6_addr, 16);
  }
}

// One datagram's iovecs on `s`: its prefix (a PROXY v2 header) if it has one, then the
// payload. Returns how many (1 or 2).
int DatagramIov(Sock* s, void* data, size_t len, iovec* iov) {
  int k = 0;
  if (!s->prefix.empty()) {
    iov[0].iov_base = s->prefix.data();
    iov[0].iov_len = s->prefix.size();
    k = 1;
  }
  iov[k].iov_base = data;
  iov[k].iov_len = len;
  return k + 1;
}

// Addresses the message to a stored peer; -1 (or a freed peer) leaves it to the connected one.
void AddressTo(State* st, msghdr* m, int peer) {
  if (peer >= 0 && static_cast<size_t>(peer) < st->peers.size() && st->peerLive[peer]) {
    m->msg_name = &st->peers[peer];
    m->msg_namelen = st->peerLens[peer];
  }
}

void Flush(State* st) {
  size_t n = st->queue.size();
  if (n == 0) return;
  mmsghdr msgs[kBatch];
  iovec iov[kBatch * 2];
  size_t i = 0;
  while (i < n) {
    Sock* s = st->queue[i].sock;
    int count = 0;
    while (i + count < n && count < kBatch && st->queue[i + count].sock == s) {
      const Pending& p = st->queue[i + count];
      mmsghdr& m = msgs[count];
      memset(&m, 0, sizeof m);
      m.msg_hdr.msg_iov = &iov[count * 2];
      m.msg_hdr.msg_iovlen = DatagramIov(s, st->arena + static_cast<size_t>(p.slot) * kSlot, p.len, m.msg_hdr.msg_iov);
      AddressTo(st, &m.msg_hdr, p.peer);
      count++;
    }
    int done = 0;
    while (done < count) {
      int r = sendmmsg(s->fd, msgs + done, count - done, MSG_DONTWAIT);
      if (r > 0) {
        done += r;
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      // The first unsent datagram failed: drop it and go on with the next one, except for a
      // full send buffer, which would refuse the rest as well.
      int err = r < 0 ? errno : EIO;
      if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        st->sendDrops += count - done;
        break;
      }
      st->sendDrops += 1;
      if (err == ECONNREFUSED && s->connected) st->refused.push_back(s);
      done += 1;
    }
    i += count;
  }
  st->queue.clear();
}

// Calls the JavaScript callback with (id, count); an exception becomes an uncaught exception.
void CallJs(State* st, int id, int count) {
  lbnative::CallInts(st->env, st->actx, st->callback, {id, count});
}

// Sockets closed since their refusal was recorded are gone from st->refused (Close removes them),
// so an id reused by a new socket never receives an old socket's error.
void DeliverRefused(State* st) {
  while (!st->refused.empty()) {
    Sock* s = st->refused.back();
    st->refused.pop_back();
    CallJs(st, s->id, -ECONNREFUSED);
  }
}

void OnReadable(uv_poll_t* handle, int status, int /*events*/) {
  Sock* s = static_cast<Sock*>(handle->data);
  State* st = s->st;
  napi_env env = st->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  int id = s->id;
  if (status < 0) {
    // libuv reports a socket error (EPOLLERR) as UV_EBADF and stops the poll. On a connected
    // UDP socket that is an ICMP error (ECONNREFUSED): take it, say it, and poll again. A send
    // earlier in this loop turn may already have taken the error (SO_ERROR reads 0 then, and
    // that send reported it): poll again and say nothing.
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    uv_poll_start(&s->poll, UV_READABLE, OnReadable);
    if (err != 0) CallJs(st, id, -err);
  } else {
    // The headers point at fixed slots (set up in Init); the kernel rewrites the lengths.
    for (int i = 0; i < kBatch; i++) {
      st->rmsgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      st->rmsgs[i].msg_hdr.msg_flags = 0;
    }
    int n;
    do n = recvmmsg(s->fd, st->rmsgs, kBatch, MSG_DONTWAIT, nullptr); while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) CallJs(st, id, -errno);
    } else {
      for (int i = 0; i < n; i++) FillMeta(st, i, st->raddr[i], static_cast<int>(st->rmsgs[i].msg_len));
      st->inBatch = true;
      st->batchCount = n;
      CallJs(st, id, n);
      st->inBatch = false;
      st->batchCount = 0;
      Flush(st);
      DeliverRefused(st);
    }
  }
  napi_close_handle_scope(env, scope);
}

napi_value Init(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  State* st;
  if (!GetArgs(env, info, 3, argv, &st)) return nullptr;
  void* data;
  size_t len;
  if (napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok || len < kBatch * kSlot) {
    napi_throw_type_error(env, nullptr, "arena: a Buffer of at least BATCH * SLOT bytes");
    return nullptr;
  }
  st->arena = static_cast<uint8_t*>(data);
  napi_typedarray_type type;
  size_t count;
  void* mdata;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, argv[1], &type, &count, &mdata, &ab, &off) != napi_ok || type != napi_int32_array || count < kBatch * kMetaWords) {
    napi_throw_type_error(env, nullptr, "meta: an Int32Array of at least BATCH * 8");
    return nullptr;
  }
  st->meta = static_cast<int32_t*>(mdata);
  if (st->callback) napi_delete_reference(env, st->callback);
  if (st->arenaRef) napi_delete_reference(env, st->arenaRef);
  if (st->metaRef) napi_delete_reference(env, st->metaRef);
  napi_create_reference(env, argv[2], 1, &st->callback);
  napi_create_reference(env, argv[0], 1, &st->arenaRef);
  napi_create_reference(env, argv[1], 1, &st->metaRef);
  lbnative::InitAsyncContext(env, "lb:udp-batch", &st->actx);
  st->queue.reserve(kBatch * 2);
  for (int i = 0; i < kBatch; i++) {
    st->riov[i].iov_base = st->arena + static_cast<size_t>(i) * kSlot;
    st->riov[i].iov_len = kSlot;
    memset(&st->rmsgs[i], 0, sizeof st->rmsgs[i]);
    st->rmsgs[i].msg_hdr.msg_iov = &st->riov[i];
    st->rmsgs[i].msg_hdr.msg_iovlen = 1;
    st->rmsgs[i].msg_hdr.msg_name = &st->raddr[i];
  }
  return Undefined(env);
}

// open(family 4|6, host, port, v6only, bufferBytes) → id. Binds host:port (port 0: the OS picks
// one; -1: not bound); throws with code on failure.
napi_value Open(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  State* st;
  if (!GetArgs(env, info, 5, argv, &st)) return nullptr;
  int32_t family, port, bufBytes;
  char host[64];
  bool v6only = false;
  if (!IntArg(env, argv[0], &family) || !HostArg(env, argv[1], host) || !IntArg(env, argv[2], &port) || !IntArg(env, argv[4], &bufBytes)) return nullptr;
  napi_get_value_bool(env, argv[3], &v6only);
  if ((family != 4 && family != 6) || port < -1 || port > 65535) {
    napi_throw_range_error(env, nullptr, "open: family 4 or 6, port -1..65535");
    return nullptr;
  }
  sockaddr_storage sa;
  socklen_t salen;
  if (!ParseAddr(host, port, family, &sa, &salen)) {
    ThrowErrno(env, EINVAL, "bind");
    return nullptr;
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, errno, "socket");
    return nullptr;
  }
  if (family == 6) {
    int v = v6only ? 1 : 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v);
  }
  if (bufBytes > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufBytes, sizeof bufBytes);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufBytes, sizeof bufBytes);
  }
  if (port >= 0) {  // port -1: not bound here (connect() binds an ephemeral port)
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), salen) < 0) {
      int err = errno;
      close(fd);
      ThrowErrno(env, err, "bind");
      return nullptr;
    }
  }
  uv_loop_t* loop;
  napi_get_uv_event_loop(env, &loop);
  Sock* s = new Sock();
  s->st = st;
  s->fd = fd;
  int r = uv_poll_init(loop, &s->poll, fd);
  if (r < 0) {
    close(fd);
    delete s;
    ThrowErrno(env, -r, "poll");
    return nullptr;
  }
  s->poll.data = s;
  int id = st->socks.Add(s);
  s->id = id;
  napi_value out;
  napi_create_int32(env, id, &out);
  return out;
}

// connect(id, host, port): a connected socket (replies filtered to the peer, ICMP errors reported).
napi_value Connect(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  State* st;
  if (!GetArgs(env, info, 3, argv, &st)) return nullptr;
  Sock* s = SockOf(env, st, argv[0]);
  if (!s) return nullptr;
  char host[64];
  int32_t port;
  if (!HostArg(env, argv[1], host) || !IntArg(env, argv[2], &port)) return nullptr;
  sockaddr_storage own;
  socklen_t ownLen = sizeof own;
  if (getsockname(s->fd, reinterpret_cast<sockaddr*>(&own), &ownLen) < 0) {
    ThrowErrno(env, errno, "getsockname");
    return nullptr;
  }
  sockaddr_storage sa;
  socklen_t salen;
  if (!ParseAddr(host, port, own.ss_family == AF_INET ? 4 : 6, &sa, &salen)) {
    ThrowErrno(env, EINVAL, "connect");
    return nullptr;
  }
  if (connect(s->fd, reinterpret_cast<sockaddr*>(&sa), salen) < 0) {
    ThrowErrno(env, errno, "connect");
    return nullptr;
  }
  s->connected = true;
  return Undefined(env);
}

napi_value Start(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  State* st;
  if (!GetArgs(env, info, 1, argv, &st)) return nullptr;
  Sock* s = SockOf(env, st, argv[0]);
  if (!s) return nullptr;
  int r = uv_poll_start(&s->poll, UV_READABLE, OnReadable);
  if (r < 0) {
    ThrowErrno(env, -r, "poll");
    return nullptr;
  }
  return Undefined(env);
}

// local(id) → [address, port]
napi_value Local(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  State* st;
  if (!GetArgs(env, info, 1, argv, &st)) return nullptr;
  Sock* s = SockOf(env, st, argv[0]);
  if (!s) return nullptr;
  sockaddr_storage sa;
  socklen_t len = sizeof sa;
  if (getsockname(s->fd, reinterpret_cast<sockaddr*>(&sa), &len) < 0) {
    ThrowErrno(env, errno, "getsockname");
    return nullptr;
  }
  return AddressPair(env, sa);
}

// slotAddress(slot) → the source address of the datagram in that slot, as text.
napi_value SlotAddress(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  State* st;
  if (!GetArgs(env, info, 1, argv, &st)) return nullptr;
  int slot = Int(env, argv[0]);
  if (slot < 0 || slot >= kBatch) {
    napi_throw_range_error(env, nullptr, "slot");
    return nullptr;
  }
  char text[INET6_ADDRSTRLEN] = "";
  const sockaddr_storage& sa = st->raddr[slot];
  if (sa.ss_family == AF_INET) inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&sa)->sin_addr, text, sizeof text);
  else inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&sa)->sin6_addr, text, sizeof text);
  napi_value out;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &out);
  return out;
}

// peer(slot) → id of a stored copy of that datagram's source address (a reply destination).
napi_value Peer(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  State* st;
  if (!GetArgs(env, info, 1, argv, &st)) return nullptr;
  int slot = Int(env, argv[0]);
  if (!st->inBatch || slot < 0 || slot >= st->batchCount) {
    napi_throw_range_error(env, nullptr, "peer: not a slot of the current batch");
    return nullptr;
  }
  int id;
  if (!st->freePeers.empty()) {
    id = st->freePeers.back();
    st->freePeers.pop_back();
  } else {
    id = static_cast<int>(st->peers.size());
    st->peers.emplace_back();
    st->peerLens.push_back(0);
    st->peerLive.push_back(false);
  }
  st->peerLive[id] = true;
  st->peers[id] = st->raddr[slot];
  st->peerLens[id] = st->raddr[slot].ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  napi_value out;
  napi_create_int32(env, id, &out);
  return out;
}

napi_value FreePeer(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  State* st;
  if (!GetArgs(env, info, 1, argv, &st)) return nullptr;
  int id = Int(env, argv[0]);
  // A queued reply may still name this peer: send it before the address can be reused.
  if (!st->queue.empty()) Flush(st);
  if (id >= 0 && static_cast<size_t>(id) < st->peers.size() && st->peerLive[id]) {
    st->peerLive[id] = false;
    st->freePeers.push_back(id);
  }
  return Undefined(env);
}

// send(id, slot, peer): queue the datagram in `slot` on socket `id`, to `peer` (-1: connected).
// Only inside the batch callback: the arena slot is reused by the next receive.
napi_value Send(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  State* st;
  if (!GetArgs(env, info, 3, argv, &st)) return nullptr;
  Sock* s = SockOf(env, st, argv[0]);
  if (!s) return nullptr;
  int32_t slot, peer;
  if (!IntArg(env, argv[1], &slot) || !IntArg(env, argv[2], &peer)) return nullptr;
  if (!st->inBatch || slot < 0 || slot >= st->batchCount) {
    napi_throw_range_error(env, nullptr, "send: not a slot of the current batch");
    return nullptr;
  }
  if (peer < -1 || peer >= static_cast<int>(st->peers.size()) || (peer >= 0 && !st->peerLive[peer])) {
    napi_throw_range_error(env, nullptr, "send: no such peer");
    return nullptr;
  }
  // Each datagram received queues at most one send; the guard keeps the queue bounded anyway.
  if (st->queue.size() >= static_cast<size_t>(kBatch) * 4) Flush(st);
  // The length is the kernel's (not the JavaScript-visible metadata), capped at the slot.
  int len = static_cast<int>(st->rmsgs[slot].msg_len < kSlot ? st->rmsgs[slot].msg_len : kSlot);
  st->queue.push_back(Pending{s, slot, len, peer});
  return Undefined(env);
}

// sendBuffer(id, buffer, peer) → 0 or -errno: one datagram from a Buffer, sent at once.
napi_value SendBuffer(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  State* st;
  if (!GetArgs(env, info, 3, argv, &st)) return nullptr;
  Sock* s = SockOf(env, st, argv[0]);
  if (!s) return nullptr;
  void* data;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, nullptr, "sendBuffer: a Buffer");
    return nullptr;
  }
  int32_t peer;
  if (!IntArg(env, argv[2], &peer)) return nullptr;
  iovec iov[2];
  msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_iov = iov;
  m.msg_iovlen = DatagramIov(s, data, len, iov);
  AddressTo(st, &m, peer);
  ssize_t r;
  do r = sendmsg(s->fd, &m, MSG_DONTWAIT); while (r < 0 && errno == EINTR);
  napi_value out;
  napi_create_int32(env, r < 0 ? -errno : 0, &out);
  if (r < 0) st->sendDrops++;
  return out;
}

// setPrefix(id, buffer | null): bytes sent in front of every datagram on this socket.
napi_value SetPrefix(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  State* st;
  if (!GetArgs(env, info, 2, argv, &st)) return nullptr;
  Sock* s = SockOf(env, st, argv[0]);
  if (!s) return nullptr;
  bool isBuf = false;
  napi_is_buffer(env, argv[1], &isBuf);
  s->prefix.clear();
  if (isBuf) {
    void* data;
    size_t len;
    napi_get_buffer_info(env, argv[1], &data, &len);
    if (len > 4096) {
      napi_throw_range_error(env, nullptr, "setPrefix: a prefix longer than 4096 bytes");
      return nullptr;
    }
    s->prefix.assign(static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + len);
  }
  return Undefined(env);
}

void OnClosed(uv_handle_t* h) {
  Sock* s = static_cast<Sock*>(h->data);
  close(s->fd);
  delete s;
}

napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  State* st;
  if (!GetArgs(env, info, 1, argv, &st)) return nullptr;
  int32_t id = Int(env, argv[0]);
  Sock* s = st->socks.Get(id);
  if (s == nullptr) return Undefined(env);
  // Queued sends on this socket go out first: they were accepted before the close.
  if (!st->queue.empty()) Flush(st);
  for (size_t i = 0; i < st->refused.size();) {
    if (st->refused[i] == s) {
      st->refused[i] = st->refused.back();
      st->refused.pop_back();
    } else {
      i++;
    }
  }
  st->socks.Remove(id);
  uv_poll_stop(&s->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), OnClosed);
  return Undefined(env);
}

// sendDrops() → datagrams dropped on send since start (full socket buffer, ICMP error).
napi_value SendDrops(napi_env env, napi_callback_info info) {
  State* st;
  GetArgs(env, info, 0, nullptr, &st);
  napi_value out;
  napi_create_double(env, st->sendDrops, &out);
  return out;
}

// The environment is torn down (its thread ends, or the process exits): sockets still open are
// closed, each freed once libuv lets go of its poll (OnClosed). No JavaScript and no reference
// is touched here.
void FreeState(napi_env env, void* data, void*) {
  State* st = static_cast<State*>(data);
  for (int id = 0; id < st->socks.Size(); id++) {
    Sock* s = st->socks.Get(id);
    if (s != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), OnClosed);
  }
  if (st->actx) napi_async_destroy(env, st->actx);
  delete st;
}

napi_value ModuleInit(napi_env env, napi_value exports) {
  State* st = lbnative::NewInstanceState<State>(env, FreeState);
  if (st == nullptr) return nullptr;
  lbnative::ExportFunctions(env, exports, st, {
      {"init", Init}, {"open", Open}, {"connect", Connect}, {"start", Start}, {"local", Local},
      {"slotAddress", SlotAddress}, {"peer", Peer}, {"freePeer", FreePeer}, {"send", Send},
      {"sendBuffer", SendBuffer}, {"setPrefix", SetPrefix}, {"close", Close}, {"sendDrops", SendDrops},
  });
  lbnative::ExportInt(env, exports, "BATCH", kBatch);
  lbnative::ExportInt(env, exports, "SLOT", static_cast<int32_t>(kSlot));
  lbnative::ExportInt(env, exports, "META_WORDS", kMetaWords);
  lbnative::ExportInt(env, exports, "ABI", 2);  // bumped whenever the calls change (batch-udp.ts checks it)
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, ModuleInit)
