// The TCP relay of lb's stream listeners: a session's two sockets (the accepted client and
// the backend it dials) are spliced here, with read() into one shared buffer and send() on,
// so no JavaScript runs per chunk and nothing is allocated unless a destination is full.
//
// Why: on libuv stream handles each chunk costs a trip into JavaScript, a Buffer and a write
// request, and each connection about seven trips and a dozen objects; that, not lb's own
// JavaScript, kept lb below HAProxy on requests/s and new connections/s (docs/benchmarks.md).
//
// Polling: the relay's sockets sit in one epoll set of its own, edge-triggered, registered
// once each for reading and writing; that set's fd is polled by the Node event loop (one
// uv_poll_t). A socket's readiness is remembered (readable until a read comes up short,
// writable until a send is), so a session costs two epoll_ctl ADDs and one DEL in all. (One
// uv_poll_t per socket cost fourteen: libuv re-registers the fd on every change of events.)
//
// Model: the relay listens and accepts (listen(): a level-triggered listening socket in the
// same epoll set, up to kAcceptsPerEvent accept4() per report) and hands each client's fd,
// address and port to accepted(); JavaScript runs admission and picks the backend, then
// open()s a session that owns the fd and dial()s the backend. (A net.Server per accept cost
// a net.Socket, a dup and a close per connection: about a third of new connections/s.) Where
// net.Server must accept (the workers' shared sockets), open() takes a duplicate of its fd.
// From then on this file moves the bytes and calls the one JavaScript callback with
// (session id, event, a, b) at most three times per attempt: connected, connect failed
// (a = -errno), ended (a = side that ended it, b = -errno or 0). Counters are read by
// stats(id) into a shared Float64Array, at the end and when the listener's sweeps ask.
//
// Contract (the same as the JavaScript sessions', raw-session.ts):
// - the client is not read until the backend is connected; a PROXY header given to open()
//   goes first to every backend attempt;
// - at most one buffer (64 KiB) is held per direction: once a destination has left that
//   much untaken, its source is not read until it takes some;
// - a FIN is passed on as a FIN (shutdown) while the other direction keeps flowing; a FIN
//   that was really a reset (a zero-length send to that side fails) is a reset; the session
//   ends once both FINs are read and every byte is written (close sends the FIN still owed);
// - a reset or any other socket error on one side is passed on as a reset (SO_LINGER 0) on
//   the other, also after either side half-closed, and as soon as epoll reports it (a side
//   whose read already ended is not read again, but its EPOLLERR still ends the session);
// - a backend that fails before a byte moved either way (it accepted, then reset) is a
//   failed connect: the client is left untouched and JavaScript retries or gives up.
// Everything runs on the event loop thread; no locks, no threads.
#include <node_api.h>
#include <uv.h>

#include "napi_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace {

using lbnative::AddressPair;
using lbnative::GetArgs;
using lbnative::Undefined;

constexpr size_t kBuf = 64 * 1024;
// The longest PROXY header open() takes (v1 is at most 107 bytes, lb's v2 at most 52): a
// header is sent from, and held in, buffers of kBuf bytes.
constexpr size_t kMaxHeader = 4096;
static_assert(kMaxHeader <= kBuf, "a held header must fit a held buffer");
// Bumped whenever the calls below change; the JavaScript side refuses another (tcp-relay.ts).
constexpr int32_t kAbi = 3;
// Connections taken per readiness report of a listening socket (it is level-triggered: the
// rest are reported again on the next loop turn, so one busy listener cannot hold the loop).
constexpr int kAcceptsPerEvent = 64;
// Reads per session per turn: a session with more goes to the back of the queue for the next
// loop turn (an idle handle keeps the loop from sleeping meanwhile), so one fast stream
// cannot hold the loop.
constexpr int kReadsPerTurn = 16;
constexpr int kEvents = 256;
constexpr size_t kSpareBuffers = 64;
enum Event { kConnected = 1, kConnectFailed = 2, kEnded = 3 };
enum Side { kClient = 0, kUpstream = 1, kListen = 2 };
// stats(id) fills: bytes in, bytes out, activity, queued to upstream, queued to client, flags.
constexpr int kStatWords = 6;
enum Flag { kFlagConnected = 1, kFlagClientEof = 2, kFlagUpstreamEof = 4, kFlagClientShut = 8 };

struct Session;
struct State;

// One socket of a session, and what epoll last said of it.
struct End {
  Session* s;  // null for a listening socket
  int fd;
  int side;
  int lid = -1;  // a listening socket's id
  bool readable = false;  // more may be read (cleared by a short read or EAGAIN)
  bool writable = false;  // a send may take bytes (cleared by a short send)
  bool hup = false;       // a FIN, an error or urgent data is there: read on to EAGAIN
  bool error = false;     // EPOLLERR: the socket's error says what
  bool dead = false;      // closed; events still in the current batch are skipped
};

// Bytes read from one side that the other has not taken yet.
struct Held {
  uint8_t* buf = nullptr;
  uint32_t off = 0;
  uint32_t len = 0;
};

// One direction of the splice.
struct Dir {
  Held held;
  bool eof = false;   // the source's FIN is read
  bool shut = false;  // our FIN to the destination is sent
};

struct Session {
  State* st = nullptr;  // the addon instance it belongs to
  int id = -1;
  End* client = nullptr;
  End* up = nullptr;
  Dir in;   // client → upstream
  Dir out;  // upstream → client
  bool connected = false;
  bool done = false;
  bool again = false;  // in the queue for the next turn
  bool outFirst = false;  // which direction reads first this turn (they take turns)
  int firstFin = -1;   // the side whose FIN came first: it names a normal end
  double bytesIn = 0;
  double bytesOut = 0;
  double activity = 0;
  std::vector<uint8_t> header;
};

// One instance of the addon (per environment: the main thread, each worker, each load), made
// by ModuleInit; the exported functions get it as their data, libuv's callbacks from their
// handle's, everything else from its session.
struct State {
  napi_env env = nullptr;
  napi_ref callback = nullptr;
  napi_ref acceptCallback = nullptr;
  napi_ref statsRef = nullptr;
  napi_async_context actx = nullptr;
  double* stats = nullptr;
  uv_loop_t* loop = nullptr;
  int epfd = -1;
  uv_poll_t epPoll;
  uv_idle_t idle;
  uint8_t* rbuf = nullptr;
  lbnative::IdTable<Session> sessions;
  lbnative::IdTable<End> listeners;
  std::vector<uint8_t*> spare;
  // Sessions to run again on the next turn (they stopped at kReadsPerTurn), and the ones
  // of the turn being run (kept to reuse its storage).
  std::vector<Session*> again;
  std::vector<Session*> turn;
  // Ends and sessions closed while events that may name them are being handled: freed after.
  int depth = 0;
  int live = 0;  // open sessions
  std::vector<End*> deadEnds;
  std::vector<Session*> deadSessions;
  int closing = 0;  // handles still to be closed by libuv at teardown (FreeState)
};

void RunAgain(uv_idle_t*);

int32_t Int(napi_env env, napi_value v, bool* ok) {
  int32_t out = 0;
  if (napi_get_value_int32(env, v, &out) != napi_ok) *ok = false;
  return out;
}

Session* SessionOf(napi_env env, State* st, napi_value v) {
  bool ok = true;
  int32_t id = Int(env, v, &ok);
  Session* s = ok ? st->sessions.Get(id) : nullptr;
  if (s == nullptr || s->done) {
    napi_throw_range_error(env, nullptr, "no such session");
    return nullptr;
  }
  return s;
}

void CallJs(Session* s, int event, int a, int b) {
  State* st = s->st;
  napi_handle_scope scope;
  napi_open_handle_scope(st->env, &scope);
  lbnative::CallInts(st->env, st->actx, st->callback, {s->id, event, a, b});
  napi_close_handle_scope(st->env, scope);
}

void FillStats(Session* s) {
  double* o = s->st->stats;
  o[0] = s->bytesIn;
  o[1] = s->bytesOut;
  o[2] = s->activity;
  o[3] = s->in.held.len;
  o[4] = s->out.held.len;
  int f = 0;
  if (s->connected) f |= kFlagConnected;
  if (s->in.eof) f |= kFlagClientEof;
  if (s->out.eof) f |= kFlagUpstreamEof;
  if (s->out.shut) f |= kFlagClientShut;
  o[5] = f;
}

int SockError(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
  return err;
}

// send() that never raises SIGPIPE: bytes taken (0 when the socket is full) or -errno.
ssize_t Send(int fd, const uint8_t* p, size_t n) {
  ssize_t w;
  do w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT); while (w < 0 && errno == EINTR);
  if (w >= 0) return w;
  return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
}

void Linger0(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

// Keep n bytes for a destination that did not take them. Only an empty direction is held
// into this way, so the copy starts at the front.
void Hold(State* st, Dir& d, const uint8_t* p, size_t n) {
  if (n > kBuf) abort();  // callers hold at most one read (kBuf) or one header (kMaxHeader)
  if (d.held.buf == nullptr) {
    if (!st->spare.empty()) {
      d.held.buf = st->spare.back();
      st->spare.pop_back();
    } else {
      d.held.buf = static_cast<uint8_t*>(malloc(kBuf));
    }
  }
  memcpy(d.held.buf, p, n);
  d.held.off = 0;
  d.held.len = static_cast<uint32_t>(n);
}

void Unhold(State* st, Dir& d) {
  if (d.held.buf == nullptr) return;
  if (st->spare.size() < kSpareBuffers) st->spare.push_back(d.held.buf);
  else free(d.held.buf);
  d.held.buf = nullptr;
  d.held.off = d.held.len = 0;
}

bool Register(End* e) {
  epoll_event ev;
  // EPOLLPRI: urgent data ends a read at its mark with bytes still queued behind it, and
  // no new edge comes for those; such a socket is read on to EAGAIN from then on.
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
  ev.data.ptr = e;
  return epoll_ctl(e->s->st->epfd, EPOLL_CTL_ADD, e->fd, &ev) == 0;
}

// Freed at once when no event batch is being handled, else after it.
void FreeEnd(State* st, End* e) {
  if (st->depth > 0) st->deadEnds.push_back(e);
  else delete e;
}

// The upstream fd is ours. It leaves the epoll set explicitly: close() alone would leave the
// registration (and its pointer to a freed End) alive while a forked child still held a copy
// of the fd.
void CloseUp(Session* s) {
  End* e = s->up;
  if (e == nullptr) return;
  s->up = nullptr;
  e->dead = true;
  epoll_ctl(s->st->epfd, EPOLL_CTL_DEL, e->fd, nullptr);
  close(e->fd);
  FreeEnd(s->st, e);
}

// The client fd is the relay's own copy (open() duplicated it).
void CloseClient(Session* s, bool registered) {
  End* e = s->client;
  if (e == nullptr) return;
  s->client = nullptr;
  e->dead = true;
  if (registered) epoll_ctl(s->st->epfd, EPOLL_CTL_DEL, e->fd, nullptr);
  close(e->fd);
  FreeEnd(s->st, e);
}

// Open sessions keep the event loop alive (an accepted client's idle handle does not).
void Live(State* st, int delta) {
  int before = st->live;
  st->live += delta;
  if (before == 0 && st->live > 0) uv_ref(reinterpret_cast<uv_handle_t*>(&st->epPoll));
  else if (before > 0 && st->live == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&st->epPoll));
}

void FreeSession(Session* s) {
  if (s->again) return;  // the queue frees it when it comes round (RunAgain)
  if (s->st->depth > 0) s->st->deadSessions.push_back(s);
  else delete s;
}

// The one place a session ends: sockets closed, held bytes freed, the id given back.
// `notify`: tell JavaScript (ended by the relay, not by a call from JavaScript).
void Finish(Session* s, int side, int err, bool notify) {
  if (s->done) return;
  State* st = s->st;
  s->done = true;
  FillStats(s);
  CloseClient(s, s->connected);
  CloseUp(s);
  Unhold(st, s->in);
  Unhold(st, s->out);
  if (notify) CallJs(s, kEnded, side, -err);
  st->sessions.Remove(s->id);
  Live(st, -1);
  FreeSession(s);
}

void ConnectFailed(Session* s, int err);

// A socket failed with `err` (positive errno): the other side is reset (SO_LINGER 0), so that
// a truncated stream never looks like a clean end there. A backend that fails before any
// byte moved either way is a failed connect instead (JavaScript may retry elsewhere): the
// client leaves the epoll set and waits, unread, for the next attempt.
void Failed(Session* s, int side, int err) {
  if (side == kUpstream && s->connected && s->bytesIn == 0 && s->bytesOut == 0 && !s->in.eof && !s->out.eof) {
    s->connected = false;
    epoll_ctl(s->st->epfd, EPOLL_CTL_DEL, s->client->fd, nullptr);
    s->client->readable = s->client->writable = s->client->hup = s->client->error = false;
    Unhold(s->st, s->in);
    Unhold(s->st, s->out);
    s->in = Dir();
    s->out = Dir();
    s->firstFin = -1;
    ConnectFailed(s, err);
    return;
  }
  if (s->connected) {
    Linger0(s->client->fd);
    if (s->up != nullptr) Linger0(s->up->fd);
  }
  Finish(s, side, err, true);
}

// Both FINs read and nothing held either way: close() sends the FIN still owed.
bool EndIfOver(Session* s) {
  if (!s->in.eof || !s->out.eof || s->in.held.len != 0 || s->out.held.len != 0) return false;
  Finish(s, s->firstFin, 0, true);
  return true;
}

// `d` has delivered everything it read from a source that sent its FIN: pass the FIN on.
// Returns false when the session ended.
bool PassFin(Session* s, Dir& d, End* dst) {
  if (EndIfOver(s)) return false;
  if (shutdown(dst->fd, SHUT_WR) < 0 && errno != ENOTCONN) {
    Failed(s, dst->side, errno);
    return false;
  }
  d.shut = true;
  return true;
}

// Send what `d` holds to `dst` while it takes it. Returns false when the session ended.
bool Drain(Session* s, Dir& d, End* dst) {
  if (d.held.len == 0 || !dst->writable) return true;
  ssize_t w = Send(dst->fd, d.held.buf + d.held.off, d.held.len);
  if (w < 0) {
    Failed(s, dst->side, static_cast<int>(-w));
    return false;
  }
  if (w > 0) s->activity++;
  d.held.off += static_cast<uint32_t>(w);
  d.held.len -= static_cast<uint32_t>(w);
  if (d.held.len != 0) {
    dst->writable = false;  // full: its EPOLLOUT edge says when it takes more
    return true;
  }
  Unhold(s->st, d);
  if (d.eof && !d.shut) return PassFin(s, d, dst);
  return true;
}

// The source's FIN. A zero-length send to that side shows whether it was a reset behind the
// data (a side we already sent our FIN to cannot be written: no probe there).
bool SourceEnded(Session* s, Dir& d, End* src, End* dst, Dir& back) {
  d.eof = true;
  src->readable = false;
  if (s->firstFin < 0) s->firstFin = src->side;
  if (!back.shut) {
    ssize_t r = Send(src->fd, nullptr, 0);
    if (r < 0) {
      Failed(s, src->side, static_cast<int>(-r));
      return false;
    }
  }
  if (d.held.len == 0) return PassFin(s, d, dst);
  return true;
}

// Read what `src` has (at most `*budget` reads) and send it on. Returns false when the
// session ended.
bool Pump(Session* s, Dir& d, End* src, End* dst, Dir& back, int* budget) {
  State* st = s->st;
  bool fromClient = src->side == kClient;
  while (src->readable && !d.eof && d.held.len < kBuf) {
    if (*budget == 0) return true;
    --*budget;
    bool behind = d.held.len != 0;
    uint8_t* into = st->rbuf;
    size_t room = kBuf;
    if (behind) {
      // The destination is full: read in behind what it has not taken (the source's FIN
      // can so be read while bytes wait). The held bytes move to the front only when the
      // room behind them is too small to be worth a read.
      if (d.held.off != 0 && kBuf - d.held.off - d.held.len < kBuf / 4) {
        memmove(d.held.buf, d.held.buf + d.held.off, d.held.len);
        d.held.off = 0;
      }
      into = d.held.buf + d.held.off + d.held.len;
      room = kBuf - d.held.off - d.held.len;
    }
    ssize_t n = read(src->fd, into, room);
    if (n > 0) {
      s->activity++;
      if (fromClient) s->bytesIn += n;
      else s->bytesOut += n;
      // A short read took all there was, unless a FIN, an error or urgent data is behind it.
      if (static_cast<size_t>(n) < room && !src->hup) src->readable = false;
      if (behind) {
        d.held.len += static_cast<uint32_t>(n);
        continue;
      }
      ssize_t w = dst->writable ? Send(dst->fd, st->rbuf, n) : 0;
      if (w < 0) {
        Failed(s, dst->side, static_cast<int>(-w));
        return false;
      }
      if (w < n) {
        dst->writable = false;
        Hold(st, d, st->rbuf + w, n - w);
      }
      continue;
    }
    if (n == 0) return SourceEnded(s, d, src, dst, back);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      src->readable = false;
      if (src->error) {
        int err = SockError(src->fd);
        src->error = false;
        if (err != 0) {
          Failed(s, src->side, err);
          return false;
        }
      }
      return true;
    }
    Failed(s, src->side, errno);
    return false;
  }
  return true;
}

// Move bytes both ways until nothing more can move now. Returns false when the session ended.
bool Run(Session* s) {
  int budget = kReadsPerTurn;
  for (;;) {
    End* c = s->client;
    End* u = s->up;
    double before = s->activity;
    if (!Drain(s, s->in, u) || !Drain(s, s->out, c)) return false;
    // The read budget is shared: the direction that reads first changes every round, so a
    // client that keeps every read full cannot starve the replies.
    s->outFirst = !s->outFirst;
    bool ok = s->outFirst ? Pump(s, s->out, u, c, s->in, &budget) && Pump(s, s->in, c, u, s->out, &budget)
                          : Pump(s, s->in, c, u, s->out, &budget) && Pump(s, s->out, u, c, s->in, &budget);
    if (!ok) return false;
    if (budget == 0) {
      bool more = (c->readable && !s->in.eof && s->in.held.len < kBuf) || (u->readable && !s->out.eof && s->out.held.len < kBuf);
      if (more && !s->again) {
        s->again = true;
        s->st->again.push_back(s);
        uv_idle_start(&s->st->idle, RunAgain);
      }
      return true;
    }
    if (s->activity == before) return true;
  }
}

void Connected(Session* s) {
  s->connected = true;
  s->activity++;
  s->up->writable = true;
  s->client->writable = true;  // an accepted socket has room; a short send says otherwise
  if (!s->header.empty()) {
    ssize_t w = Send(s->up->fd, s->header.data(), s->header.size());
    if (w < 0) {
      Failed(s, kUpstream, static_cast<int>(-w));
      return;
    }
    if (static_cast<size_t>(w) < s->header.size()) {
      s->up->writable = false;
      Hold(s->st, s->in, s->header.data() + w, s->header.size() - w);
    }
  }
  // Registering reports the client's readiness at once (bytes it sent while we dialled).
  if (!Register(s->client)) {
    int err = errno;
    s->connected = false;  // not in the set: nothing to take out
    Finish(s, kClient, err, true);
    return;
  }
  CallJs(s, kConnected, 0, 0);
}

// The attempt failed: its socket is closed and JavaScript decides (retry or give up).
void ConnectFailed(Session* s, int err) {
  CloseUp(s);
  CallJs(s, kConnectFailed, -err, 0);
}

void OnEvent(End* e, uint32_t ev) {
  Session* s = e->s;
  if (e->dead || s->done) return;
  if (ev & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) e->readable = true;
  if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) e->writable = true;
  if (ev & (EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) e->hup = true;
  if (ev & EPOLLERR) e->error = true;
  if (e->side == kUpstream && !s->connected) {
    int err = SockError(e->fd);
    // A hang-up with no error on a socket that never connected (seen when the connect is
    // refused in ways that leave no SO_ERROR): a failed connect now, not at connect_timeout.
    if (err == 0 && (ev & EPOLLHUP)) err = ECONNRESET;
    if (err != 0) ConnectFailed(s, err);
    else if (ev & EPOLLOUT) Connected(s);
    return;
  }
  if (!s->connected) return;
  // Bytes that came before an error are delivered first (Run reads them, and meets the
  // error itself when it reads on)...
  if (!Run(s) || s->done || e->dead || !s->connected) return;
  // ...but a side whose read has ended (its FIN came first) is not read again, so its error
  // is acted on here, at once, instead of waiting for traffic or idle_timeout.
  if (e->error) {
    e->error = false;
    int err = SockError(e->fd);
    if (err != 0) Failed(s, e->side, err);
  }
}

void FreeDead(State* st) {
  for (End* e : st->deadEnds) delete e;
  st->deadEnds.clear();
  for (Session* s : st->deadSessions) delete s;
  st->deadSessions.clear();
}

// accepted(lid, fd, ip, port): a new client (fd >= 0), or lb's own accept failure (fd is
// -errno: EMFILE, ENFILE, ENOBUFS, ENOMEM); the listener is then paused until resume(lid).
void CallAccepted(State* st, int lid, int fd, const sockaddr_storage* sa) {
  napi_env env = st->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  char text[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (sa != nullptr && (sa->ss_family == AF_INET || sa->ss_family == AF_INET6)) port = lbnative::AddressText(*sa, text);
  napi_value argv[4];
  napi_create_int32(env, lid, &argv[0]);
  napi_create_int32(env, fd, &argv[1]);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &argv[2]);
  napi_create_int32(env, port, &argv[3]);
  lbnative::CallValues(env, st->actx, st->acceptCallback, 4, argv);
  napi_close_handle_scope(env, scope);
}

bool SetListenEvents(State* st, End* e, uint32_t events) {
  epoll_event ev;
  ev.events = events;
  ev.data.ptr = e;
  return epoll_ctl(st->epfd, EPOLL_CTL_MOD, e->fd, &ev) == 0;
}

void OnListen(State* st, End* e) {
  for (int i = 0; i < kAcceptsPerEvent && !e->dead; i++) {
    sockaddr_storage sa;
    socklen_t len = sizeof sa;
    int fd = accept4(e->fd, reinterpret_cast<sockaddr*>(&sa), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      CallAccepted(st, e->lid, fd, &sa);
      continue;
    }
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return;
    if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM) continue;  // that client is gone
    // lb's own resources (descriptors, memory): stop taking until JavaScript resumes.
    SetListenEvents(st, e, 0);
    CallAccepted(st, e->lid, -err, nullptr);
    return;
  }
}

void OnEpoll(uv_poll_t* h, int status, int) {
  if (status < 0) return;
  State* st = static_cast<State*>(h->data);
  epoll_event evs[kEvents];
  int n;
  do n = epoll_wait(st->epfd, evs, kEvents, 0); while (n < 0 && errno == EINTR);
  st->depth++;
  for (int i = 0; i < n; i++) {
    End* e = static_cast<End*>(evs[i].data.ptr);
    if (e->side == kListen) OnListen(st, e);
    else OnEvent(e, evs[i].events);
  }
  st->depth--;
  FreeDead(st);
}

// Sessions that stopped at their read budget go on, one turn each, in order.
void RunAgain(uv_idle_t* h) {
  State* st = static_cast<State*>(h->data);
  st->turn.swap(st->again);
  uv_idle_stop(&st->idle);
  st->depth++;
  for (Session* s : st->turn) {
    s->again = false;
    if (s->done) {
      st->deadSessions.push_back(s);
      continue;
    }
    Run(s);
  }
  st->depth--;
  st->turn.clear();
  if (!st->again.empty()) uv_idle_start(&st->idle, RunAgain);
  FreeDead(st);
}

// "1.2.3.4" / "::1" + port → sockaddr.
bool ParseAddr(const char* host, int port, int family, sockaddr_storage* out, socklen_t* len) {
  memset(out, 0, sizeof *out);
  if (family == 4) {
    auto* a = reinterpret_cast<sockaddr_in*>(out);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    *len = sizeof(sockaddr_in);
    return inet_pton(AF_INET, host, &a->sin_addr) == 1;
  }
  auto* a = reinterpret_cast<sockaddr_in6*>(out);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  *len = sizeof(sockaddr_in6);
  return inet_pton(AF_INET6, host, &a->sin6_addr) == 1;
}

// The (family, host, port) arguments of dial() and listen(): family 4 or 6 (or 0 where
// `anyFamily`), a host of at most 62 bytes, a port from 0 to 65535. False when they are not.
struct Endpoint {
  int32_t family = 0;
  int32_t port = 0;
  char host[64];
};

bool GetEndpoint(napi_env env, napi_value family, napi_value host, napi_value port, bool anyFamily, Endpoint* out) {
  bool ok = true;
  out->family = Int(env, family, &ok);
  out->port = Int(env, port, &ok);
  size_t hlen = 0;
  return ok && (out->family == 4 || out->family == 6 || (anyFamily && out->family == 0)) && out->port >= 0 &&
         out->port <= 65535 && napi_get_value_string_utf8(env, host, out->host, sizeof out->host, &hlen) == napi_ok &&
         hlen < sizeof out->host - 1;
}

End* NewEnd(Session* s, int fd, int side) {
  End* e = new End();
  e->s = s;
  e->fd = fd;
  e->side = side;
  return e;
}

// init(stats: Float64Array(6), callback(id, event, a, b), accepted(lid, fd, ip, port))
napi_value Init(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  State* st;
  if (!GetArgs(env, info, 3, argv, &st)) return nullptr;
  napi_typedarray_type type;
  size_t count;
  void* data;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, argv[0], &type, &count, &data, &ab, &off) != napi_ok || type != napi_float64_array || count < kStatWords) {
    napi_throw_type_error(env, nullptr, "stats: a Float64Array of at least 6");
    return nullptr;
  }
  st->stats = static_cast<double*>(data);
  if (st->callback) napi_delete_reference(env, st->callback);
  if (st->statsRef) napi_delete_reference(env, st->statsRef);
  if (st->acceptCallback) napi_delete_reference(env, st->acceptCallback);
  napi_create_reference(env, argv[1], 1, &st->callback);
  napi_create_reference(env, argv[2], 1, &st->acceptCallback);
  napi_create_reference(env, argv[0], 1, &st->statsRef);
  if (st->epfd < 0) {
    napi_get_uv_event_loop(env, &st->loop);
    st->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (st->epfd < 0) {
      napi_throw_error(env, "EMFILE", "tcp relay: epoll_create1 failed");
      return nullptr;
    }
    int r = uv_poll_init(st->loop, &st->epPoll, st->epfd);
    if (r != 0) {
      close(st->epfd);
      st->epfd = -1;
      napi_throw_error(env, uv_err_name(r), "tcp relay: cannot poll its epoll set");
      return nullptr;
    }
    // From here on the handles are the loop's until FreeState closes them (epfd >= 0 says so).
    // The relay's poll keeps the process alive only while it has sessions (Live).
    st->epPoll.data = st;
    uv_unref(reinterpret_cast<uv_handle_t*>(&st->epPoll));
    uv_idle_init(st->loop, &st->idle);
    st->idle.data = st;
    uv_unref(reinterpret_cast<uv_handle_t*>(&st->idle));
    st->rbuf = static_cast<uint8_t*>(malloc(kBuf));
  }
  int r = uv_poll_start(&st->epPoll, UV_READABLE, OnEpoll);
  if (r != 0) {
    napi_throw_error(env, uv_err_name(r), "tcp relay: cannot poll its epoll set");
    return nullptr;
  }
  lbnative::InitAsyncContext(env, "lb:tcp-relay", &st->actx);
  return Undefined(env);
}

// open(clientFd, header: Buffer | null, owned) → id. An `owned` fd (one the relay accepted)
// is the session's from now on; otherwise the relay keeps a duplicate (the caller closes its
// own). The client is polled once the backend is up. Throws a RangeError for a header longer
// than kMaxHeader (an owned fd stays the caller's then) and an errno error when the fd
// cannot be duplicated.
napi_value Open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  State* st;
  if (!GetArgs(env, info, 3, argv, &st)) return nullptr;
  if (st->epfd < 0) {
    napi_throw_error(env, nullptr, "open: init() has not run");
    return nullptr;
  }
  bool ok = true;
  int32_t fd = Int(env, argv[0], &ok);
  if (!ok || fd < 0) {
    napi_throw_type_error(env, nullptr, "open: a file descriptor");
    return nullptr;
  }
  bool isBuf = false;
  void* data = nullptr;
  size_t len = 0;
  napi_is_buffer(env, argv[1], &isBuf);
  if (isBuf && napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) isBuf = false;
  if (isBuf && len > kMaxHeader) {
    napi_throw_range_error(env, nullptr, "open: a PROXY header longer than 4096 bytes");
    return nullptr;
  }
  bool owned = false;
  napi_get_value_bool(env, argv[2], &owned);
  int own = owned ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) {
    lbnative::ThrowErrno(env, errno, "dup");
    return nullptr;
  }
  Session* s = new Session();
  s->st = st;
  if (isBuf && len > 0) s->header.assign(static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + len);
  s->client = NewEnd(s, own, kClient);
  fd = own;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  s->id = st->sessions.Add(s);
  Live(st, 1);
  napi_value out;
  napi_create_int32(env, s->id, &out);
  return out;
}

// dial(id, family 4|6, host, port) → 0 or -errno. Drops an attempt still in flight first.
napi_value Dial(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  State* st;
  if (!GetArgs(env, info, 4, argv, &st)) return nullptr;
  Session* s = SessionOf(env, st, argv[0]);
  if (!s) return nullptr;
  Endpoint ep;
  if (!GetEndpoint(env, argv[1], argv[2], argv[3], false, &ep)) {
    napi_throw_type_error(env, nullptr, "dial(id, 4 | 6, ip, port)");
    return nullptr;
  }
  napi_value out;
  if (s->connected) {
    napi_create_int32(env, -EISCONN, &out);
    return out;
  }
  CloseUp(s);
  int result = 0;
  sockaddr_storage sa;
  socklen_t salen;
  if (!ParseAddr(ep.host, ep.port, ep.family, &sa, &salen)) {
    result = -EINVAL;
  } else {
    int fd = socket(ep.family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      result = -errno;
    } else {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      int r;
      do r = connect(fd, reinterpret_cast<sockaddr*>(&sa), salen); while (r < 0 && errno == EINTR);
      if (r < 0 && errno != EINPROGRESS) {
        result = -errno;
        close(fd);
      } else {
        // EPOLLOUT (or EPOLLERR) says when the connect is done.
        s->up = NewEnd(s, fd, kUpstream);
        if (!Register(s->up)) {
          result = -errno;
          CloseUp(s);
        }
      }
    }
  }
  napi_create_int32(env, result, &out);
  return out;
}

// abort(id): drop the connect attempt in flight, if any (a connect timeout; JavaScript then
// retries or gives up). Its events, even ones already fetched, are not delivered.
napi_value Abort(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  State* st;
  if (!GetArgs(env, info, 1, argv, &st)) return nullptr;
  Session* s = SessionOf(env, st, argv[0]);
  if (!s) return nullptr;
  if (!s->connected) CloseUp(s);
  return Undefined(env);
}

// close(id, reset): end the session now (drain, timeouts, shutdown, a failed connect); with
// `reset` both sockets are closed with RST instead of FIN. Stats hold its last counters.
napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  State* st;
  if (!GetArgs(env, info, 2, argv, &st)) return nullptr;
  Session* s = SessionOf(env, st, argv[0]);
  if (!s) return nullptr;
  bool reset = false;
  napi_get_value_bool(env, argv[1], &reset);
  if (reset) {
    Linger0(s->client->fd);
    if (s->up != nullptr) Linger0(s->up->fd);
  }
  Finish(s, kClient, 0, false);
  return Undefined(env);
}

// stats(id): fills the stats array (see kStatWords).
napi_value Stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  State* st;
  if (!GetArgs(env, info, 1, argv, &st)) return nullptr;
  Session* s = SessionOf(env, st, argv[0]);
  if (!s) return nullptr;
  FillStats(s);
  return Undefined(env);
}

// local(id) → [address, port] of the backend socket, or null.
napi_value Local(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  State* st;
  if (!GetArgs(env, info, 1, argv, &st)) return nullptr;
  Session* s = SessionOf(env, st, argv[0]);
  if (!s) return nullptr;
  napi_value out;
  sockaddr_storage sa;
  socklen_t len = sizeof sa;
  if (s->up == nullptr || getsockname(s->up->fd, reinterpret_cast<sockaddr*>(&sa), &len) < 0) {
    napi_get_null(env, &out);
    return out;
  }
  return AddressPair(env, sa);
}

// listen(family 4|6|0, ip, port, backlog) → id, or throws an errno error (EADDRINUSE...).
// Family 0 is every interface, dual-stack ("::" with IPV6_V6ONLY off, else 0.0.0.0), as
// net.Server does; SO_REUSEADDR as Node sets it. Accepted clients go to accepted().
napi_value Listen(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  State* st;
  if (!GetArgs(env, info, 4, argv, &st)) return nullptr;
  if (st->epfd < 0) {
    napi_throw_error(env, nullptr, "listen: init() has not run");
    return nullptr;
  }
  bool ok = true;
  int32_t backlog = Int(env, argv[3], &ok);
  Endpoint ep;
  if (!GetEndpoint(env, argv[0], argv[1], argv[2], true, &ep) || !ok) {
    napi_throw_type_error(env, nullptr, "listen(0 | 4 | 6, ip, port, backlog)");
    return nullptr;
  }
  sockaddr_storage sa;
  socklen_t salen;
  int fd = -1;
  bool any = ep.family == 0;
  if (any) {
    fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      int zero = 0;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
      ParseAddr("::", ep.port, 6, &sa, &salen);
    } else {
      ParseAddr("0.0.0.0", ep.port, 4, &sa, &salen);
    }
  } else if (!ParseAddr(ep.host, ep.port, ep.family, &sa, &salen)) {
    napi_throw_type_error(env, "EINVAL", "listen: not an IP address");
    return nullptr;
  }
  if (fd < 0) fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    lbnative::ThrowErrno(env, errno, "socket");
    return nullptr;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const char* step = "bind";
  bool failed = bind(fd, reinterpret_cast<sockaddr*>(&sa), salen) < 0;
  if (!failed) {
    step = "listen";
    failed = listen(fd, backlog) < 0;
  }
  End* e = failed ? nullptr : NewEnd(nullptr, fd, kListen);
  if (e != nullptr) {
    epoll_event ev;
    ev.events = EPOLLIN;  // level-triggered: see kAcceptsPerEvent
    ev.data.ptr = e;
    step = "epoll_ctl";
    failed = epoll_ctl(st->epfd, EPOLL_CTL_ADD, fd, &ev) < 0;
  }
  if (failed) {
    int err = errno;
    delete e;
    close(fd);
    lbnative::ThrowErrno(env, err, step);
    return nullptr;
  }
  e->lid = st->listeners.Add(e);
  Live(st, 1);  // a listening socket keeps the process alive, as a net.Server does
  napi_value out;
  napi_create_int32(env, e->lid, &out);
  return out;
}

End* ListenerOf(napi_env env, State* st, napi_value v) {
  bool ok = true;
  int32_t id = Int(env, v, &ok);
  End* e = ok ? st->listeners.Get(id) : nullptr;
  if (e == nullptr) napi_throw_range_error(env, nullptr, "no such listener");
  return e;
}

// resume(lid): take clients again after an accept failure paused the listener.
napi_value Resume(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  State* st;
  if (!GetArgs(env, info, 1, argv, &st)) return nullptr;
  End* e = ListenerOf(env, st, argv[0]);
  if (!e) return nullptr;
  SetListenEvents(st, e, EPOLLIN);
  return Undefined(env);
}

// unlisten(lid): close the listening socket (clients in its queue get a reset from the kernel).
napi_value Unlisten(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  State* st;
  if (!GetArgs(env, info, 1, argv, &st)) return nullptr;
  End* e = ListenerOf(env, st, argv[0]);
  if (!e) return nullptr;
  epoll_ctl(st->epfd, EPOLL_CTL_DEL, e->fd, nullptr);
  close(e->fd);
  e->dead = true;
  st->listeners.Remove(e->lid);
  FreeEnd(st, e);
  Live(st, -1);
  return Undefined(env);
}

// sockname(fd | lid, isListener) → [address, port]: a listener's bound address, or the local
// address an accepted client reached (for the PROXY header lb sends); null on failure.
napi_value Sockname(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  State* st;
  if (!GetArgs(env, info, 2, argv, &st)) return nullptr;
  bool ok = true;
  int32_t n = Int(env, argv[0], &ok);
  bool isListener = false;
  napi_get_value_bool(env, argv[1], &isListener);
  int fd = n;
  if (isListener) {
    End* e = ListenerOf(env, st, argv[0]);
    if (!e) return nullptr;
    fd = e->fd;
  }
  napi_value out;
  sockaddr_storage sa;
  socklen_t len = sizeof sa;
  if (!ok || fd < 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) < 0) {
    napi_get_null(env, &out);
    return out;
  }
  return AddressPair(env, sa);
}

// closeFd(fd, reset): let go of an accepted client lb does not keep (denied, over a limit).
napi_value CloseFd(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  State* st;
  if (!GetArgs(env, info, 2, argv, &st)) return nullptr;
  bool ok = true;
  int32_t fd = Int(env, argv[0], &ok);
  bool reset = false;
  napi_get_value_bool(env, argv[1], &reset);
  if (ok && fd >= 0) {
    if (reset) Linger0(fd);
    close(fd);
  }
  return Undefined(env);
}

void Closed(uv_handle_t* h) {
  State* st = static_cast<State*>(h->data);
  if (--st->closing == 0) delete st;
}

// The environment is torn down (its thread ends, or the process exits): sessions still open
// are closed without a word to JavaScript, and the state is freed once libuv lets go of its
// handles. No JavaScript and no reference is touched here.
void FreeState(napi_env env, void* data, void*) {
  State* st = static_cast<State*>(data);
  for (int id = 0; id < st->sessions.Size(); id++) {
    Session* s = st->sessions.Get(id);
    if (s == nullptr) continue;
    CloseClient(s, false);
    CloseUp(s);
    Unhold(st, s->in);
    Unhold(st, s->out);
    FreeSession(s);
  }
  for (Session* s : st->again) delete s;  // FreeSession leaves these to the queue
  for (int id = 0; id < st->listeners.Size(); id++) {
    End* e = st->listeners.Get(id);
    if (e == nullptr) continue;
    close(e->fd);
    delete e;
  }
  for (uint8_t* b : st->spare) free(b);
  free(st->rbuf);
  if (st->actx) napi_async_destroy(env, st->actx);
  if (st->epfd < 0) {
    delete st;
    return;
  }
  st->closing = 2;
  uv_close(reinterpret_cast<uv_handle_t*>(&st->epPoll), Closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&st->idle), Closed);
  close(st->epfd);  // safe once its poll is closing (libuv's uv_poll_t contract)
}

napi_value ModuleInit(napi_env env, napi_value exports) {
  State* st = lbnative::NewInstanceState<State>(env, FreeState);
  if (st == nullptr) return nullptr;
  lbnative::ExportFunctions(env, exports, st, {
      {"init", Init}, {"open", Open}, {"dial", Dial}, {"abort", Abort}, {"close", Close}, {"stats", Stats}, {"local", Local},
      {"listen", Listen}, {"resume", Resume}, {"unlisten", Unlisten}, {"sockname", Sockname}, {"closeFd", CloseFd},
  });
  lbnative::ExportInt(env, exports, "HELD_MAX", static_cast<int32_t>(kBuf));
  lbnative::ExportInt(env, exports, "ABI", kAbi);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, ModuleInit)
