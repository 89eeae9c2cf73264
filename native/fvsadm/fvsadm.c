/* fvsadm as installed: a small native front for the director's POST /v1/ipvsadm.
 *
 * Node's own start (140-160 ms on a small VM) is more than an ipvsadm command may cost, so this
 * program only carries the invocation: its arguments go to the director, which runs the one
 * ipvsadm language (src/ipvsadm, the JS fvsadm's code) against its API with this caller's
 * token, and what it printed and its exit status come back. What belongs to this machine
 * stays here: standard input is read only when the director asks for it (-R), and a command
 * that needs this machine's names (its resolver, /etc/services), a FULCRUM_API other than
 * plain http://host[:port], or a director without the route is handed to the JS fvsadm,
 * exec'd with the same arguments and environment. It is found from this program's own path:
 *   <dir>/../lib/fulcrum/bin/fvsadm.js   installed (/usr/sbin -> /usr/lib/fulcrum)
 *   <dir>/../../../bin/fvsadm.js         a build tree (build/native/Release -> bin/)
 * Errors read as the JS client's (src/client/http.ts), exit 2. Plain libc, no Node, no DPDK. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define DEFAULT_API "http://127.0.0.1:9390"
#define TIMEOUT_S 30              /* the JS client's */
#define MAX_BYTES (1UL << 30)     /* an answer or stdin; far above any listing or restore */

static const char *program = "fvsadm";
static const char *api;           /* FULCRUM_API as given: messages name it so */
static char **args;               /* our argv, handed on to the JS fvsadm */

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", program);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

static const char *errname(int e) {
  const char *n = strerrorname_np(e);
  return n ? n : "EIO";
}

/* ---- a growing byte buffer ------------------------------------------------------------------ */

struct buf { char *p; size_t n, cap; };

static void add(struct buf *b, const void *s, size_t n) {
  if (n > MAX_BYTES - b->n) die("more than %lu bytes to hold", MAX_BYTES);
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) die("out of memory");
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

static void adds(struct buf *b, const char *s) { add(b, s, strlen(s)); }

/* A JSON string: quotes, backslashes and control characters escaped, other bytes as they are
 * (UTF-8 stays UTF-8; the director decodes invalid bytes as Node decodes the JS's argv). */
static void add_json(struct buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  add(b, "\"", 1);
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    add(b, s + run, i - run);
    run = i + 1;
    char e[6] = {'\\', (char)c};
    if (c == '"' || c == '\\') add(b, e, 2);
    else { memcpy(e, "\\u00", 4); e[4] = hex[c >> 4]; e[5] = hex[c & 15]; add(b, e, 6); }
  }
  add(b, s + run, n - run);
  add(b, "\"", 1);
}

static void read_all(int fd, struct buf *b) {
  char chunk[65536];
  for (;;) {
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r == 0) return;
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("cannot read standard input (%s)", errname(errno));
    add(b, chunk, (size_t)r);
  }
}

/* ---- the JS fvsadm, for what only it can do -------------------------------------------------- */

static void run_js(const struct buf *stdin_read) {
  static const char *const where[] = {"/../lib/fulcrum/bin/fvsadm.js", "/../../../bin/fvsadm.js"};
  char self[PATH_MAX], js[PATH_MAX + 64];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) die("cannot find its own path (%s)", errname(errno));
  self[n] = 0;
  *strrchr(self, '/') = 0;
  for (size_t i = 0; i < sizeof where / sizeof *where; i++) {
    snprintf(js, sizeof js, "%s%s", self, where[i]);
    if (access(js, X_OK) != 0) continue;
    if (stdin_read) {
      /* stdin was read for the director: the JS gets the same bytes. */
      int fd = memfd_create("fvsadm-stdin", 0);
      if (fd < 0 || write(fd, stdin_read->p, stdin_read->n) != (ssize_t)stdin_read->n || lseek(fd, 0, SEEK_SET) != 0
          || dup2(fd, 0) < 0)
        die("cannot hand standard input on (%s)", errname(errno));
    }
    signal(SIGPIPE, SIG_DFL);
    args[0] = js;
    execv(js, args);
    die("cannot run %s (%s)", js, errname(errno));
  }
  die("this command needs the JS fvsadm, which is not at %s%s", self, where[0]);
}

/* ---- FULCRUM_API and the token ------------------------------------------------------------- */

struct target { char host[256]; char port[6]; const char *authority; size_t authority_n; };

/* http://host[:port][/] or http://[v6][:port][/]; anything else is the JS client's. */
static int parse_api(const char *s, struct target *t) {
  if (strncmp(s, "http://", 7) != 0) return -1;
  const char *a = s + 7, *end = a + strcspn(a, "/");
  if (strcmp(end, "") != 0 && strcmp(end, "/") != 0) return -1;
  const char *host = a, *host_end, *colon;
  if (*a == '[') {
    host = a + 1;
    host_end = memchr(host, ']', (size_t)(end - host));
    if (!host_end) return -1;
    colon = host_end + 1 < end ? host_end + 1 : NULL;
    if (colon && *colon != ':') return -1;
  } else {
    colon = memchr(a, ':', (size_t)(end - a));
    host_end = colon ? colon : end;
  }
  if (host_end == host || (size_t)(host_end - host) >= sizeof t->host) return -1;
  for (const char *p = host; p < host_end; p++)
    if ((unsigned char)*p <= ' ' || strchr("@%?#[]\\", *p)) return -1;
  memcpy(t->host, host, (size_t)(host_end - host));
  t->host[host_end - host] = 0;
  size_t digits = colon ? (size_t)(end - colon - 1) : 0;
  if (colon && (digits == 0 || digits > 5 || strspn(colon + 1, "0123456789") < digits || atoi(colon + 1) > 65535)) return -1;
  if (colon) { memcpy(t->port, colon + 1, digits); t->port[digits] = 0; } else strcpy(t->port, "80");
  t->authority = a;
  t->authority_n = (size_t)(end - a);
  return 0;
}

/* FULCRUM_TOKEN, else the first line of FULCRUM_TOKEN_FILE, trimmed; NULL for none. */
static char *token_from_env(void) {
  const char *t = getenv("FULCRUM_TOKEN");
  if (t && *t) return strdup(t);
  const char *file = getenv("FULCRUM_TOKEN_FILE");
  if (!file || !*file) return NULL;
  FILE *f = fopen(file, "r");
  static char line[65536];
  if (!f || (!fgets(line, sizeof line, f) && ferror(f))) die("cannot read the token file %s (%s)", file, errname(errno));
  fclose(f);
  char *s = line, *e = line + strcspn(line, "\n");
  while (s < e && strchr(" \t\r\v\f", *s)) s++;
  while (e > s && strchr(" \t\r\v\f", e[-1])) e--;
  *e = 0;
  return *s ? s : NULL;
}

/* ---- one request ----------------------------------------------------------------------------- */

static void unreachable(const char *why) { die("cannot reach the Fulcrum director at %s (%s)", api, why); }

static int connect_to(const struct target *t) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ais;
  int rc = getaddrinfo(t->host, t->port, &hints, &ais);
  if (rc) unreachable(rc == EAI_AGAIN ? "EAI_AGAIN" : "ENOTFOUND");
  int fd = -1, err = ECONNREFUSED;
  for (struct addrinfo *ai = ais; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) { err = errno; continue; }
    struct timeval tv = {.tv_sec = TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    err = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(ais);
  if (fd < 0) unreachable(err == EINPROGRESS || err == EAGAIN ? "no answer in 30 s" : errname(err));
  return fd;
}

/* A header's value in the head [p, end) (lines after the status line), by length, not NUL. */
static const char *head_value(const char *p, const char *end, const char *name, size_t *len) {
  size_t nl = strlen(name);
  for (const char *l = memmem(p, (size_t)(end - p), "\r\n", 2); l && l + 2 < end; l = memmem(l + 2, (size_t)(end - l - 2), "\r\n", 2)) {
    const char *s = l + 2;
    if ((size_t)(end - s) <= nl || strncasecmp(s, name, nl) != 0 || s[nl] != ':') continue;
    s += nl + 1;
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    const char *e = memmem(s, (size_t)(end - s), "\r", 1);
    *len = (size_t)((e ? e : end) - s);
    return s;
  }
  return NULL;
}

/* Whether the answer so far is whole by its own framing: a Content-Length's worth of body, or
 * a chunked body's last chunk (the director's JSON never holds a raw CRLF). Then fvsadm stops
 * reading: the director closes the connection only after a later turn of its loop (up to
 * 5-20 ms measured), and a command must not wait for that. Anything else (no framing, a
 * length not yet met, a lying one) is read to the close as before. */
static int answer_whole(const struct buf *ans) {
  const char *p = ans->p, *end = p + ans->n;
  const char *head_end = ans->n ? memmem(p, ans->n, "\r\n\r\n", 4) : NULL;
  if (!head_end) return 0;
  const char *body = head_end + 4;
  size_t len;
  const char *te = head_value(p, head_end + 2, "transfer-encoding", &len);
  if (te) return memmem(te, len, "chunked", 7) && end - body >= 5 && memcmp(end - 5, "0\r\n\r\n", 5) == 0;
  const char *cl = head_value(p, head_end + 2, "content-length", &len);
  if (!cl || len == 0 || len > 18 || strspn(cl, "0123456789") < len) return 0;
  unsigned long long want = 0;
  for (size_t i = 0; i < len; i++) want = want * 10 + (unsigned)(cl[i] - '0');
  return (unsigned long long)(end - body) >= want;
}

/* Sends the request and reads the answer: to its framed end, or to the close (the director
 * closes: Connection: close). */
static void exchange(const struct target *t, const struct buf *req, struct buf *ans) {
  int fd = connect_to(t);
  for (size_t at = 0; at < req->n;) {
    ssize_t w = send(fd, req->p + at, req->n - at, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) unreachable("no answer in 30 s");
    if (w < 0) break;  /* it may have answered early (a body too large): read that */
    at += (size_t)w;
  }
  char chunk[65536];
  for (;;) {
    ssize_t r = recv(fd, chunk, sizeof chunk, 0);
    if (r == 0) break;
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) unreachable("no answer in 30 s");
    if (r < 0 && ans->n == 0) unreachable(errname(errno));
    if (r < 0) break;
    add(ans, chunk, (size_t)r);
    if (answer_whole(ans)) break;
  }
  close(fd);
}

static void garbled(const char *why) { die("the Fulcrum director at %s gave an answer fvsadm cannot read (%s)", api, why); }

/* Finds a header's value in the head (lines after the status line, CRLF-separated). */
static const char *header(const char *head, const char *name, size_t *len) {
  size_t nl = strlen(name);
  for (const char *l = strstr(head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
    const char *s = l + 2;
    if (strncasecmp(s, name, nl) != 0 || s[nl] != ':') continue;
    s += nl + 1;
    while (*s == ' ' || *s == '\t') s++;
    *len = strcspn(s, "\r");
    return s;
  }
  return NULL;
}

/* The status and the body of an HTTP/1.1 answer, the body de-chunked in place. */
static int parse_http(struct buf *ans, char **body, size_t *body_n) {
  add(ans, "", 1);  /* a NUL after the bytes, for the string functions on the head */
  ans->n--;
  char *p = ans->p, *end = p + ans->n;
  if (ans->n < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' || strspn(p + 9, "0123456789") < 3) garbled("no status line");
  int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  char *head_end = memmem(p, ans->n, "\r\n\r\n", 4);
  if (!head_end) garbled("no end of headers");
  head_end[2] = 0;  /* the head is a string now; its last CRLF stays */
  char *b = head_end + 4;
  size_t n = (size_t)(end - b), len;
  const char *te = header(p, "transfer-encoding", &len), *cl = header(p, "content-length", &len);
  if (te && memmem(te, len, "chunked", 7)) {
    char *r = b, *w = b;
    for (;;) {
      char *x;
      errno = 0;
      unsigned long size = strtoul(r, &x, 16);
      char *eol = memmem(r, (size_t)(end - r), "\r\n", 2);
      if (x == r || errno || !eol || x > eol || size > (size_t)(end - eol - 2)) garbled("a bad chunk");
      if (size == 0) break;
      memmove(w, eol + 2, size);
      w += size;
      r = eol + 2 + size;
      if (end - r < 2 || r[0] != '\r' || r[1] != '\n') garbled("a bad chunk");
      r += 2;
    }
    n = (size_t)(w - b);
  } else if (cl) {
    char *x;
    errno = 0;
    unsigned long want = strtoul(cl, &x, 10);
    if (x == cl || x != cl + len || errno || *cl == '-') garbled("a bad Content-Length");
    if (want > n) garbled("the body is cut short");
    n = want;
  }
  *body = b;
  *body_n = n;
  return status;
}

/* ---- the answer's JSON: {stdout, stderr, exit} or {needs, message} --------------------------- */

static char *utf8(char *w, unsigned cp) {
  if (cp < 0x80) *w++ = (char)cp;
  else if (cp < 0x800) { *w++ = (char)(0xC0 | cp >> 6); *w++ = (char)(0x80 | (cp & 63)); }
  else if (cp < 0x10000) { *w++ = (char)(0xE0 | cp >> 12); *w++ = (char)(0x80 | (cp >> 6 & 63)); *w++ = (char)(0x80 | (cp & 63)); }
  else { *w++ = (char)(0xF0 | cp >> 18); *w++ = (char)(0x80 | (cp >> 12 & 63)); *w++ = (char)(0x80 | (cp >> 6 & 63)); *w++ = (char)(0x80 | (cp & 63)); }
  return w;
}

static int hex4(const char *p, const char *end, unsigned *v) {
  if (end - p < 4) return -1;
  *v = 0;
  for (int i = 0; i < 4; i++) {
    int c = p[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    *v = *v << 4 | (unsigned)d;
  }
  return 0;
}

/* A JSON string at *pp, decoded in place (UTF-8 is never longer than its escape); a lone
 * surrogate becomes U+FFFD, as Node writes it. */
static int json_string(char **pp, char *end, char **s, size_t *n) {
  char *r = *pp, *w;
  if (r >= end || *r++ != '"') return -1;
  *s = w = r;
  while (r < end && *r != '"') {
    if ((unsigned char)*r < 0x20) return -1;
    if (*r != '\\') { *w++ = *r++; continue; }
    if (++r >= end) return -1;
    const char *simple = strchr("\"\\/bfnrt", *r);
    if (*r && simple) { *w++ = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"]; r++; continue; }
    unsigned cp, lo;
    if (*r != 'u' || hex4(r + 1, end, &cp)) return -1;
    r += 5;
    if (cp >= 0xD800 && cp < 0xDC00 && end - r >= 6 && r[0] == '\\' && r[1] == 'u' && !hex4(r + 2, end, &lo) && lo >= 0xDC00 && lo < 0xE000) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      r += 6;
    } else if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
    w = utf8(w, cp);
  }
  if (r >= end) return -1;
  *n = (size_t)(w - *s);
  *pp = r + 1;
  return 0;
}

static void ws(char **pp, char *end) { while (*pp < end && **pp && strchr(" \t\r\n", **pp)) (*pp)++; }

/* Skips any JSON value, nesting bounded. */
static int json_skip(char **pp, char *end, int depth) {
  char *s;
  size_t n;
  ws(pp, end);
  if (*pp >= end || depth > 64) return -1;
  char c = **pp;
  if (c == '"') return json_string(pp, end, &s, &n);
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    (*pp)++;
    ws(pp, end);
    if (*pp < end && **pp == close) { (*pp)++; return 0; }
    for (;;) {
      if (c == '{') {
        ws(pp, end);
        if (json_string(pp, end, &s, &n)) return -1;
        ws(pp, end);
        if (*pp >= end || *(*pp)++ != ':') return -1;
      }
      if (json_skip(pp, end, depth + 1)) return -1;
      ws(pp, end);
      if (*pp >= end) return -1;
      if (**pp == close) { (*pp)++; return 0; }
      if (*(*pp)++ != ',') return -1;
    }
  }
  char *start = *pp;  /* a number, true, false or null */
  while (*pp < end && **pp && strchr("+-.0123456789eEtruefalsn", **pp)) (*pp)++;
  return *pp > start ? 0 : -1;
}

struct reply { char *out, *err, *needs, *message; size_t out_n, err_n, needs_n, message_n; long exit; int has_exit; };

static int parse_reply(char *p, char *end, struct reply *r) {
  memset(r, 0, sizeof *r);
  ws(&p, end);
  if (p >= end || *p++ != '{') return -1;
  ws(&p, end);
  if (p < end && *p == '}') return 0;
  for (;;) {
    char *key, *v;
    size_t kn, vn;
    ws(&p, end);
    if (json_string(&p, end, &key, &kn)) return -1;
    ws(&p, end);
    if (p >= end || *p++ != ':') return -1;
    ws(&p, end);
    char **sv = kn == 6 && !memcmp(key, "stdout", 6) ? &r->out : kn == 6 && !memcmp(key, "stderr", 6) ? &r->err
      : kn == 5 && !memcmp(key, "needs", 5) ? &r->needs : kn == 7 && !memcmp(key, "message", 7) ? &r->message : NULL;
    if (sv && p < end && *p == '"') {
      if (json_string(&p, end, &v, &vn)) return -1;
      *sv = v;
      *(sv == &r->out ? &r->out_n : sv == &r->err ? &r->err_n : sv == &r->needs ? &r->needs_n : &r->message_n) = vn;
    } else if (kn == 4 && !memcmp(key, "exit", 4) && p < end && (*p == '-' || (*p >= '0' && *p <= '9'))) {
      char *x;
      errno = 0;
      r->exit = strtol(p, &x, 10);
      if (errno || x == p || x - p > 12) return -1;
      p = x;
      r->has_exit = 1;
    } else if (json_skip(&p, end, 0)) return -1;
    ws(&p, end);
    if (p >= end) return -1;
    if (*p == '}') return 0;
    if (*p++ != ',') return -1;
  }
}

/* ---- the invocation -------------------------------------------------------------------------- */

static void write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && fd == 1 && errno == EPIPE) exit(0);  /* `fvsadm -Ln | head`: the reader is done */
    if (w < 0) return;
    p += w;
    n -= (size_t)w;
  }
}

int main(int argc, char **argv) {
  args = argv;
  const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
  if (argc > 0) program = slash ? slash + 1 : argv[0];
  signal(SIGPIPE, SIG_IGN);  /* a closed pipe is EPIPE from write, handled there */
  api = getenv("FULCRUM_API");
  if (!api || !*api) api = DEFAULT_API;
  struct target t;
  if (parse_api(api, &t)) run_js(NULL);
  const char *token = token_from_env();
  if (token)
    for (const char *c = token; *c; c++)
      if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f) unreachable("ERR_INVALID_CHAR");

  struct buf invocation = {0}, in = {0};
  adds(&invocation, "{\"argv\":[");
  for (int i = 1; i < argc; i++) {
    if (i > 1) adds(&invocation, ",");
    add_json(&invocation, argv[i], strlen(argv[i]));
  }
  adds(&invocation, "],\"program\":");
  add_json(&invocation, program, strlen(program));
  int have_stdin = 0;
  for (;;) {
    struct buf body = {0}, req = {0}, ans = {0};
    add(&body, invocation.p, invocation.n);
    if (have_stdin) { adds(&body, ",\"stdin\":"); add_json(&body, in.p, in.n); }
    adds(&body, "}");
    char head[1024];
    int hn = snprintf(head, sizeof head, "POST /v1/ipvsadm HTTP/1.1\r\nHost: %.*s\r\nConnection: close\r\n"
      "Content-Type: application/json\r\nContent-Length: %zu\r\n", (int)t.authority_n, t.authority, body.n);
    add(&req, head, (size_t)hn);
    if (token) { adds(&req, "Authorization: Bearer "); adds(&req, token); adds(&req, "\r\n"); }
    adds(&req, "\r\n");
    add(&req, body.p, body.n);
    free(body.p);
    exchange(&t, &req, &ans);
    free(req.p);

    char *b;
    size_t bn;
    int status = parse_http(&ans, &b, &bn);
    struct reply r;
    int json = parse_reply(b, b + bn, &r) == 0;
    if (status == 401) die("the Fulcrum director at %s wants a valid token (set FULCRUM_TOKEN or FULCRUM_TOKEN_FILE)", api);
    if (status == 404) run_js(have_stdin ? &in : NULL);  /* a director from before the route */
    if (status == 200) {
      if (!json || !r.out || !r.err || !r.has_exit || r.exit < 0 || r.exit > 255) garbled("not {stdout, stderr, exit}");
      write_all(1, r.out, r.out_n);
      write_all(2, r.err, r.err_n);
      return (int)r.exit;
    }
    if (status == 409 && json && r.needs && r.needs_n == 5 && !memcmp(r.needs, "stdin", 5) && !have_stdin) {
      read_all(0, &in);
      have_stdin = 1;
      free(ans.p);
      continue;
    }
    if (status == 409 && json && r.needs && r.needs_n == 6 && !memcmp(r.needs, "client", 6)) run_js(have_stdin ? &in : NULL);
    if (json && r.message) die("the director answered %d: %.*s", status, (int)r.message_n, r.message);
    die("the director answered %d", status);
  }
}
