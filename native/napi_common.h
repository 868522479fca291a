// What lb's two addons (udp_batch.cc, tcp_relay.cc) share: N-API argument and value
// plumbing, the async context their callbacks run in, and socket address text.
#pragma once

#include <node_api.h>
#include <uv.h>

#include <stdio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <initializer_list>
#include <vector>

namespace lbnative {

inline napi_value Undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// Throw an Error shaped like Node's errno errors: code ("EMFILE"), errno (negative), syscall.
inline void ThrowErrno(napi_env env, int err, const char* syscall) {
  const char* code = uv_err_name(-err);
  char msg[160];
  snprintf(msg, sizeof msg, "%s %s", syscall, code);
  napi_value e, c, m, s;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, c, m, &e);
  napi_set_named_property(env, e, "code", c);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, e, "syscall", s);
  napi_value n;
  napi_create_int32(env, -err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_throw(env, e);
}

// The first `want` arguments, and the function's data: its addon instance's state (see
// ExportFunctions). False (with a TypeError thrown) when fewer were passed.
template <typename T>
inline bool GetArgs(napi_env env, napi_callback_info info, size_t want, napi_value* argv, T** state) {
  size_t argc = want;
  void* data = nullptr;
  napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
  *state = static_cast<T*>(data);
  if (argc < want) {
    napi_throw_type_error(env, nullptr, "too few arguments");
    return false;
  }
  return true;
}

// An async context for callbacks into JavaScript, created once. Its resource object is held
// strongly for the life of the process (Node keeps it weakly).
inline void InitAsyncContext(napi_env env, const char* name, napi_async_context* actx) {
  if (*actx) return;
  napi_value res, text;
  napi_ref keep;
  napi_create_object(env, &res);
  napi_create_reference(env, res, 1, &keep);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &text);
  napi_async_init(env, res, text, actx);
}

// Calls `cb` in `actx` with `argc` arguments; an exception becomes an uncaught one.
inline void CallValues(napi_env env, napi_async_context actx, napi_ref cb, size_t argc, const napi_value* argv) {
  napi_value fn, global, result;
  napi_get_reference_value(env, cb, &fn);
  napi_get_global(env, &global);
  if (napi_make_callback(env, actx, global, fn, argc, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

// Calls `cb` in `actx` with up to four int32 arguments (see CallValues).
inline void CallInts(napi_env env, napi_async_context actx, napi_ref cb, std::initializer_list<int> args) {
  napi_value argv[4];
  size_t argc = 0;
  for (int a : args) {
    if (argc == 4) break;
    napi_create_int32(env, a, &argv[argc++]);
  }
  CallValues(env, actx, cb, argc, argv);
}

// The address of an IPv4 socket address, or else of an IPv6 one, written into `text`; returns
// its port.
inline int AddressText(const sockaddr_storage& sa, char (&text)[INET6_ADDRSTRLEN]) {
  if (sa.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&sa);
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    return ntohs(a->sin_port);
  }
  auto* a = reinterpret_cast<const sockaddr_in6*>(&sa);
  inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
  return ntohs(a->sin6_port);
}

// [address text, port] of an IPv4 or IPv6 socket address.
inline napi_value AddressPair(napi_env env, const sockaddr_storage& sa) {
  char text[INET6_ADDRSTRLEN] = "";
  int port = AddressText(sa, text);
  napi_value out, t, p;
  napi_create_array_with_length(env, 2, &out);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &t);
  napi_create_int32(env, port, &p);
  napi_set_element(env, out, 0, t);
  napi_set_element(env, out, 1, p);
  return out;
}

struct Export {
  const char* name;
  napi_callback cb;
};

// A new state for this instance of an addon (one per environment: the main thread, each
// worker, each load of the module), given to `finalize` when the environment is torn down.
// Null, with an error thrown, when it cannot be registered.
template <typename T>
inline T* NewInstanceState(napi_env env, napi_finalize finalize) {
  T* state = new T();
  state->env = env;
  if (napi_set_instance_data(env, state, finalize, nullptr) == napi_ok) return state;
  delete state;
  napi_throw_error(env, nullptr, "cannot set the addon's instance data");
  return nullptr;
}

// The functions get `state` as their data (GetArgs hands it back): no global, no lookup.
inline void ExportFunctions(napi_env env, napi_value exports, void* state, std::initializer_list<Export> fns) {
  for (const Export& f : fns) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, state, &fn);
    napi_set_named_property(env, exports, f.name, fn);
  }
}

inline void ExportInt(napi_env env, napi_value exports, const char* name, int32_t value) {
  napi_value v;
  napi_create_int32(env, value, &v);
  napi_set_named_property(env, exports, name, v);
}

// Objects named to JavaScript by small integer ids; a freed id is given out again.
template <typename T>
class IdTable {
 public:
  int Add(T* item) {
    if (!free_.empty()) {
      int id = free_.back();
      free_.pop_back();
      items_[id] = item;
      return id;
    }
    items_.push_back(item);
    return static_cast<int>(items_.size()) - 1;
  }
  // The object with this id, or null.
  T* Get(int id) const { return id >= 0 && static_cast<size_t>(id) < items_.size() ? items_[id] : nullptr; }
  int Size() const { return static_cast<int>(items_.size()); }  // ids are below it
  void Remove(int id) {
    items_[id] = nullptr;
    free_.push_back(id);
  }

 private:
  std::vector<T*> items_;
  std::vector<int> free_;
};

}  // namespace lbnative
