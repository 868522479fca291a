// The TCP relay of lb's stream listeners: a session's two sockets (the accepted client and
// the backend it dials) are polled by the Node event loop (uv_poll_t) and the bytes between
// them are moved here, with read() into one shared buffer and send() on, so no JavaScript
// runs per chunk and nothing is allocated unless the destination is full.
//
// Why: on libuv stream handles each chunk costs a trip into JavaScript, a Buffer and a write
// request, and each connection about seven trips and a dozen objects; that, not lb's own
// JavaScript, kept lb below HAProxy on requests/s and new connections/s (docs/benchmarks.md).
//
// Model: JavaScript accepts (net.Server keeps binding and the workers' sharing), runs
// admission and picks the backend. It hands the accepted client's fd to open() (the handle
// keeps owning the fd and closes it at the end) and calls dial() with the backend's address.
// From then on this file moves the bytes and calls the one JavaScript callback with
// (session id, event, a, b) three times at most per attempt: connected, connect failed
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
// - a reset on one side is passed on as a reset (SO_LINGER 0) on the other.
// Everything runs on the event loop thread; no locks, no threads.
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace {

constexpr size_t kBuf = 64 * 1024;
constexpr int kReadsPerWake = 16;
constexpr size_t kSpareBuffers = 64;
enum Event { kConnected = 1, kConnectFailed = 2, kEnded = 3 };
enum Side { kClient = 0, kUpstream = 1 };
// stats(id) fills: bytes in, bytes out, activity, queued to upstream, queued to client, flags.
constexpr int kStatWords = 6;
enum Flag { kFlagConnected = 1, kFlagClientEof = 2, kFlagUpstreamEof = 4, kFlagClientShut = 8, kFlagUpstreamShut = 16 };

struct Session;

// One socket of a session and its poll. Closed with uv_close; freed in the close callback.
struct End {
  uv_poll_t poll;
  Session* s;
  int fd;
  int side;
  int events = 0;     // what the poll is started with (0: stopped)
  bool ownsFd;        // the upstream fd is ours; the client fd belongs to its libuv handle
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
  int id = -1;
  End* client = nullptr;
  End* up = nullptr;
  Dir in;   // client → upstream
  Dir out;  // upstream → client
  bool connected = false;
  bool done = false;
  int firstFin = -1;  // the side whose FIN came first: it names a normal end
  double bytesIn = 0;
  double bytesOut = 0;
  double activity = 0;
  std::vector<uint8_t> header;
};

struct State {
  napi_env env = nullptr;
  napi_ref callback = nullptr;
  napi_ref statsRef = nullptr;
  napi_async_context actx = nullptr;
  double* stats = nullptr;
  uv_loop_t* loop = nullptr;
  uint8_t* rbuf = nullptr;
  std::vector<Session*> sessions;
  std::vector<int> freeIds;
  std::vector<uint8_t*> spare;
  // Sessions ended while a poll callback is on the stack are freed when it returns.
  int depth = 0;
  std::vector<Session*> graveyard;
};

State g;

void OnPoll(uv_poll_t* h, int status, int events);

napi_value Undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

int32_t Int(napi_env env, napi_value v, bool* ok) {
  int32_t out = 0;
  if (napi_get_value_int32(env, v, &out) != napi_ok) *ok = false;
  return out;
}

bool GetArgs(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < want) {
    napi_throw_type_error(env, nullptr, "too few arguments");
    return false;
  }
  return true;
}

Session* SessionOf(napi_env env, napi_value v) {
  bool ok = true;
  int32_t id = Int(env, v, &ok);
  if (!ok || id < 0 || static_cast<size_t>(id) >= g.sessions.size() || g.sessions[id] == nullptr) {
    napi_throw_range_error(env, nullptr, "no such session");
    return nullptr;
  }
  return g.sessions[id];
}

void CallJs(int id, int event, int a, int b) {
  napi_env env = g.env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, argv[4], global, result;
  napi_get_reference_value(env, g.callback, &cb);
  napi_get_global(env, &global);
  napi_create_int32(env, id, &argv[0]);
  napi_create_int32(env, event, &argv[1]);
  napi_create_int32(env, a, &argv[2]);
  napi_create_int32(env, b, &argv[3]);
  napi_status st = napi_make_callback(env, g.actx, global, cb, 4, argv, &result);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

void FillStats(Session* s) {
  double* o = g.stats;
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
  if (s->in.shut) f |= kFlagUpstreamShut;
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

void Hold(Dir& d, const uint8_t* p, size_t n) {
  if (d.held.buf == nullptr) {
    if (!g.spare.empty()) {
      d.held.buf = g.spare.back();
      g.spare.pop_back();
    } else {
      d.held.buf = static_cast<uint8_t*>(malloc(kBuf));
    }
  }
  // Called only when the direction holds nothing, so this copy starts at the front.
  memcpy(d.held.buf, p, n);
  d.held.off = 0;
  d.held.len = static_cast<uint32_t>(n);
}

void Unhold(Dir& d) {
  if (d.held.buf == nullptr) return;
  if (g.spare.size() < kSpareBuffers) g.spare.push_back(d.held.buf);
  else free(d.held.buf);
  d.held.buf = nullptr;
  d.held.off = d.held.len = 0;
}

void OnEndClosed(uv_handle_t* h) {
  End* e = static_cast<End*>(h->data);
  if (e->ownsFd) close(e->fd);
  delete e;
}

void CloseEnd(End* e) {
  if (e == nullptr) return;
  e->s = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&e->poll), OnEndClosed);
}

// The events an end's poll should wait for now.
int Wanted(Session* s, End* e) {
  if (e->side == kUpstream && !s->connected) return UV_WRITABLE;
  if (!s->connected) return 0;  // the client is not read before the backend is up
  Dir& from = e->side == kClient ? s->in : s->out;  // what reading this end feeds
  Dir& to = e->side == kClient ? s->out : s->in;    // what writing this end drains
  int ev = 0;
  if (!from.eof && from.held.len < kBuf) ev |= UV_READABLE;
  if (to.held.len > 0) ev |= UV_WRITABLE;
  return ev;
}

void Update(Session* s, End* e) {
  if (e == nullptr || s->done) return;
  int ev = Wanted(s, e);
  if (ev == e->events) return;
  e->events = ev;
  if (ev == 0) uv_poll_stop(&e->poll);
  else uv_poll_start(&e->poll, ev, OnPoll);
}

void Bury(Session* s) {
  if (g.depth > 0) {
    g.graveyard.push_back(s);
    return;
  }
  delete s;
}

// The one place a session ends: both polls closed, held bytes freed, the id given back.
// `notify`: tell JavaScript (ended by the relay, not by a call from JavaScript).
void Finish(Session* s, int side, int err, bool notify) {
  if (s->done) return;
  s->done = true;
  FillStats(s);
  CloseEnd(s->client);
  CloseEnd(s->up);
  s->client = s->up = nullptr;
  Unhold(s->in);
  Unhold(s->out);
  int id = s->id;
  if (notify) CallJs(id, kEnded, side, -err);
  g.sessions[id] = nullptr;
  g.freeIds.push_back(id);
  Bury(s);
}

// A socket failed with `err` (positive errno). A reset is passed on as a reset.
void Failed(Session* s, int side, int err) {
  if (err == ECONNRESET && s->connected) {
    End* other = side == kClient ? s->up : s->client;
    if (other != nullptr) Linger0(other->fd);
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

// Write what `d` holds to `dst`. Returns false when the session ended.
bool Drain(Session* s, End* dst) {
  Dir& d = dst->side == kClient ? s->out : s->in;
  if (d.held.len == 0) return true;
  ssize_t w = Send(dst->fd, d.held.buf + d.held.off, d.held.len);
  if (w < 0) {
    Failed(s, dst->side, static_cast<int>(-w));
    return false;
  }
  if (w == 0) return true;
  s->activity++;
  d.held.off += static_cast<uint32_t>(w);
  d.held.len -= static_cast<uint32_t>(w);
  if (d.held.len != 0) return true;
  Unhold(d);
  if (d.eof) return PassFin(s, d, dst);
  return true;
}

// Read into what `d` already holds (the destination is full): at most kBuf in all. The
// source's FIN can so be read while bytes wait. Returns what read() returned.
ssize_t ReadBehind(Dir& d, int fd) {
  if (d.held.off != 0) {
    memmove(d.held.buf, d.held.buf + d.held.off, d.held.len);
    d.held.off = 0;
  }
  if (d.held.len >= kBuf) return -2;  // full: the caller stops reading (see Wanted)
  ssize_t n = read(fd, d.held.buf + d.held.len, kBuf - d.held.len);
  if (n > 0) d.held.len += static_cast<uint32_t>(n);
  return n;
}

// Read what `src` has and send it on. Returns false when the session ended.
bool Pump(Session* s, End* src) {
  bool fromClient = src->side == kClient;
  End* dst = fromClient ? s->up : s->client;
  Dir& d = fromClient ? s->in : s->out;
  for (int i = 0; i < kReadsPerWake; i++) {
    bool behind = d.held.len != 0;
    ssize_t n = behind ? ReadBehind(d, src->fd) : read(src->fd, g.rbuf, kBuf);
    if (n == -2) return true;
    if (n > 0) {
      s->activity++;
      if (fromClient) s->bytesIn += n;
      else s->bytesOut += n;
      if (behind) return true;  // the destination's poll says when it takes more
      ssize_t w = Send(dst->fd, g.rbuf, n);
      if (w < 0) {
        Failed(s, dst->side, static_cast<int>(-w));
        return false;
      }
      if (w < n) {
        Hold(d, g.rbuf + w, n - w);
        return true;
      }
      if (static_cast<size_t>(n) < kBuf) return true;  // most likely all there was
      continue;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      Failed(s, src->side, errno);
      return false;
    }
    // FIN. A zero-length send to that side shows whether it was a reset behind the data
    // (a side we already sent our FIN to cannot be written: no probe there).
    d.eof = true;
    if (s->firstFin < 0) s->firstFin = src->side;
    Dir& back = fromClient ? s->out : s->in;
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
  return true;
}

void Connected(Session* s) {
  s->connected = true;
  s->activity++;
  if (!s->header.empty()) {
    ssize_t w = Send(s->up->fd, s->header.data(), s->header.size());
    if (w < 0) {
      Failed(s, kUpstream, static_cast<int>(-w));
      return;
    }
    if (static_cast<size_t>(w) < s->header.size()) Hold(s->in, s->header.data() + w, s->header.size() - w);
  }
  Update(s, s->up);
  Update(s, s->client);
  CallJs(s->id, kConnected, 0, 0);
}

// The attempt failed: its socket is closed and JavaScript decides (retry or give up).
void ConnectFailed(Session* s, int err) {
  CloseEnd(s->up);
  s->up = nullptr;
  CallJs(s->id, kConnectFailed, -err, 0);
}

void OnPoll(uv_poll_t* h, int status, int events) {
  End* e = static_cast<End*>(h->data);
  Session* s = e->s;
  if (s == nullptr || s->done) return;
  g.depth++;
  if (status < 0) {
    // libuv reports EPOLLERR as UV_EBADF and stops the poll: the socket's error says what.
    // On an established socket, bytes that came before a reset are read (and sent on) first,
    // and the read behind them meets the reset.
    e->events = 0;
    if (e->side == kUpstream && !s->connected) {
      int err = SockError(e->fd);
      ConnectFailed(s, err != 0 ? err : ECONNREFUSED);
    } else if (Pump(s, e)) {
      int err = SockError(e->fd);
      if (err != 0) {
        Failed(s, e->side, err);
      } else {
        Update(s, s->client);
        Update(s, s->up);
      }
    }
  } else if (e->side == kUpstream && !s->connected) {
    int err = SockError(e->fd);
    if (err != 0) ConnectFailed(s, err);
    else Connected(s);
  } else {
    bool alive = true;
    if (events & UV_WRITABLE) alive = Drain(s, e);
    if (alive && (events & UV_READABLE)) alive = Pump(s, e);
    if (alive) {
      Update(s, s->client);
      Update(s, s->up);
    }
  }
  if (--g.depth == 0 && !g.graveyard.empty()) {
    for (Session* dead : g.graveyard) delete dead;
    g.graveyard.clear();
  }
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

End* NewEnd(Session* s, int fd, int side, bool ownsFd) {
  End* e = new End();
  e->s = s;
  e->fd = fd;
  e->side = side;
  e->ownsFd = ownsFd;
  if (uv_poll_init_socket(g.loop, &e->poll, fd) < 0) {
    delete e;
    return nullptr;
  }
  e->poll.data = e;
  return e;
}

// init(stats: Float64Array(6), callback(id, event, a, b))
napi_value Init(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return nullptr;
  napi_typedarray_type type;
  size_t count;
  void* data;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, argv[0], &type, &count, &data, &ab, &off) != napi_ok || type != napi_float64_array || count < kStatWords) {
    napi_throw_type_error(env, nullptr, "stats: a Float64Array of at least 6");
    return nullptr;
  }
  g.env = env;
  g.stats = static_cast<double*>(data);
  if (g.callback) napi_delete_reference(env, g.callback);
  if (g.statsRef) napi_delete_reference(env, g.statsRef);
  napi_create_reference(env, argv[1], 1, &g.callback);
  napi_create_reference(env, argv[0], 1, &g.statsRef);
  napi_get_uv_event_loop(env, &g.loop);
  if (!g.rbuf) g.rbuf = static_cast<uint8_t*>(malloc(kBuf));
  if (!g.actx) {
    napi_value res, name;
    napi_ref keep;
    napi_create_object(env, &res);
    napi_create_reference(env, res, 1, &keep);
    napi_create_string_utf8(env, "lb:tcp-relay", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, res, name, &g.actx);
  }
  return Undefined(env);
}

// open(clientFd, header: Buffer | null) → id. The client is polled once the backend is up.
napi_value Open(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!GetArgs(env, info, 2, argv)) return nullptr;
  bool ok = true;
  int32_t fd = Int(env, argv[0], &ok);
  if (!ok || fd < 0) {
    napi_throw_type_error(env, nullptr, "open: a file descriptor");
    return nullptr;
  }
  Session* s = new Session();
  bool isBuf = false;
  napi_is_buffer(env, argv[1], &isBuf);
  if (isBuf) {
    void* data;
    size_t len;
    napi_get_buffer_info(env, argv[1], &data, &len);
    s->header.assign(static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + len);
  }
  s->client = NewEnd(s, fd, kClient, false);
  if (s->client == nullptr) {
    delete s;
    napi_throw_error(env, "EEXIST", "open: the fd is already polled");
    return nullptr;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!g.freeIds.empty()) {
    s->id = g.freeIds.back();
    g.freeIds.pop_back();
    g.sessions[s->id] = s;
  } else {
    s->id = static_cast<int>(g.sessions.size());
    g.sessions.push_back(s);
  }
  napi_value out;
  napi_create_int32(env, s->id, &out);
  return out;
}

// dial(id, family 4|6, host, port) → 0 or -errno. Drops an attempt still in flight first.
napi_value Dial(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!GetArgs(env, info, 4, argv)) return nullptr;
  Session* s = SessionOf(env, argv[0]);
  if (!s) return nullptr;
  bool ok = true;
  int32_t family = Int(env, argv[1], &ok);
  int32_t port = Int(env, argv[3], &ok);
  char host[64];
  size_t hlen = 0;
  if (!ok || (family != 4 && family != 6) || port < 0 || port > 65535 ||
      napi_get_value_string_utf8(env, argv[2], host, sizeof host, &hlen) != napi_ok || hlen >= sizeof host - 1) {
    napi_throw_type_error(env, nullptr, "dial(id, 4 | 6, ip, port)");
    return nullptr;
  }
  if (s->connected) {
    napi_throw_error(env, nullptr, "dial: already connected");
    return nullptr;
  }
  CloseEnd(s->up);
  s->up = nullptr;
  int result = 0;
  sockaddr_storage sa;
  socklen_t salen;
  if (!ParseAddr(host, port, family, &sa, &salen)) {
    result = -EINVAL;
  } else {
    int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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
        s->up = NewEnd(s, fd, kUpstream, true);
        if (s->up == nullptr) {
          close(fd);
          result = -EEXIST;
        } else {
          Update(s, s->up);
        }
      }
    }
  }
  napi_value out;
  napi_create_int32(env, result, &out);
  return out;
}

// close(id): end the session now (drain, timeouts, shutdown); stats hold its last counters.
napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  Session* s = SessionOf(env, argv[0]);
  if (!s) return nullptr;
  Finish(s, kClient, 0, false);
  return Undefined(env);
}

// stats(id): fills the stats array (see kStatWords).
napi_value Stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  Session* s = SessionOf(env, argv[0]);
  if (!s) return nullptr;
  FillStats(s);
  return Undefined(env);
}

// local(id) → [address, port] of the backend socket, or null.
napi_value Local(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!GetArgs(env, info, 1, argv)) return nullptr;
  Session* s = SessionOf(env, argv[0]);
  if (!s) return nullptr;
  napi_value out;
  sockaddr_storage sa;
  socklen_t len = sizeof sa;
  if (s->up == nullptr || getsockname(s->up->fd, reinterpret_cast<sockaddr*>(&sa), &len) < 0) {
    napi_get_null(env, &out);
    return out;
  }
  char text[INET6_ADDRSTRLEN] = "";
  int port;
  if (sa.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&sa);
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&sa);
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  napi_value t, p;
  napi_create_array_with_length(env, 2, &out);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &t);
  napi_create_int32(env, port, &p);
  napi_set_element(env, out, 0, t);
  napi_set_element(env, out, 1, p);
  return out;
}

napi_value ModuleInit(napi_env env, napi_value exports) {
  struct Fn {
    const char* name;
    napi_callback cb;
  } fns[] = {
      {"init", Init}, {"open", Open}, {"dial", Dial}, {"close", Close}, {"stats", Stats}, {"local", Local},
  };
  for (const Fn& f : fns) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &fn);
    napi_set_named_property(env, exports, f.name, fn);
  }
  napi_value v;
  napi_create_int32(env, static_cast<int32_t>(kBuf), &v);
  napi_set_named_property(env, exports, "HELD_MAX", v);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, ModuleInit)
