// LD_PRELOAD shim for wrk: every TLS connection starts with a full handshake.
//
// wrk's ssl_close() calls SSL_shutdown() and SSL_clear() and keeps the SSL object for the
// connection's next socket. SSL_clear() keeps the session of a connection that was shut
// down cleanly, so the next SSL_connect() offers it, and a server with session tickets or a
// session cache resumes instead of signing (measured: 95% of wrk's `Connection: close`
// connections to NGINX with `ssl_session_tickets on` were resumed). Dropping the session
// before a handshake starts makes every connection a full handshake, whatever the server's
// resumption settings. bench/compare preloads this for tls-close-13B.
//
// No OpenSSL headers needed: the three functions are looked up in the next object (libssl).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

static int (*real_connect)(SSL*);
static int (*in_before)(const SSL*);
static int (*set_session)(SSL*, SSL_SESSION*);

__attribute__((constructor)) static void resolve(void) {
  real_connect = (int (*)(SSL*))dlsym(RTLD_NEXT, "SSL_connect");
  in_before = (int (*)(const SSL*))dlsym(RTLD_NEXT, "SSL_in_before");
  set_session = (int (*)(SSL*, SSL_SESSION*))dlsym(RTLD_NEXT, "SSL_set_session");
}

__attribute__((visibility("default"))) int SSL_connect(SSL* s) {
  if (real_connect == NULL || in_before == NULL || set_session == NULL) {
    fputs("wrk_full_handshake: libssl's SSL_connect/SSL_in_before/SSL_set_session not found\n",
          stderr);
    abort();
  }
  // wrk calls SSL_connect() again after each WANT_READ/WANT_WRITE: only the first call of a
  // handshake may drop the session.
  if (in_before(s)) {
    set_session(s, NULL);
  }
  return real_connect(s);
}
