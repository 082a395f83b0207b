/* floor_server: the event loop, the listener and the three routes. See floor.h.
 *   floor_server [--listen HOST:PORT] [--mode write|coalesce]
 * Prints "floor_server listening on HOST:PORT (mode M)" on stderr; SIGTERM or SIGINT stop it. */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "floor.h"

#define MAX_BODY (64u * 1024u)
#define FLUSH_SLICE 64u

static volatile sig_atomic_t stopping;
static uint64_t last_seq;
static int listen_fd = -1;

static void on_signal(int signo) {
  (void)signo;
  stopping = 1;
}

static void answer(struct floor_conn* c, const char* status, const char* body, size_t body_len) {
  char head[256];
  int const n = snprintf(head, sizeof head,
                         "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                         "Access-Control-Allow-Origin: *\r\nContent-Length: %zu\r\n\r\n",
                         status, body_len);
  /* One write for head and body, like any server that cares. */
  char* whole = malloc((size_t)n + body_len);
  if (!whole) {
    floor_conn_close(c);
    return;
  }
  memcpy(whole, head, (size_t)n);
  memcpy(whole + n, body, body_len);
  floor_send(c, whole, (size_t)n + body_len);
  free(whole);
}

static void open_stream(struct floor_conn* c) {
  char bytes[256];
  int const n = snprintf(bytes, sizeof bytes,
                         "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         "Cache-Control: no-cache\r\nAccess-Control-Allow-Origin: *\r\n\r\n"
                         "id: %llu\ndata: []\n\n",
                         (unsigned long long)last_seq);
  floor_stream_add(c);
  if (!c->dead) floor_send(c, bytes, (size_t)n);
}

static void publish(struct floor_conn* c, char* body, size_t len) {
  /* The data line must stay one line: JSON allows a space wherever it allows CR or LF. */
  for (size_t i = 0; i < len; ++i)
    if (body[i] == '\r' || body[i] == '\n') body[i] = ' ';
  char prefix[48];
  int const p = snprintf(prefix, sizeof prefix, "id: %llu\ndata: ", (unsigned long long)++last_seq);
  size_t const n = (size_t)p + len + 2;
  char* event = malloc(n);
  if (!event) {
    floor_conn_close(c);
    return;
  }
  memcpy(event, prefix, (size_t)p);
  memcpy(event + p, body, len);
  memcpy(event + p + len, "\n\n", 2);
  /* Fan out before answering: whoever got the 201 can count on every stream having it. */
  floor_fanout(event, n);
  free(event);
  answer(c, "201 Created", body, len);
}

/* Handles every complete request in c->in; returns when more bytes are needed. */
static void handle_requests(struct floor_conn* c) {
  while (!c->dead && !c->is_stream) {
    struct floor_request req;
    char* data = c->in.data + c->in.off;
    size_t const len = c->in.len - c->in.off;
    int const parsed = floor_parse_request(data, len, &req);
    if (parsed == 0) return;
    if (parsed < 0 || req.content_length > MAX_BODY) {
      floor_conn_close(c);
      return;
    }
    if (len < req.head_len + req.content_length) return; /* the body is still coming */
    c->in.off += req.head_len + req.content_length;

    if (floor_request_is(&req, "GET", "/events")) {
      open_stream(c);
    } else if (floor_request_is(&req, "POST", "/fact")) {
      publish(c, data + req.head_len, req.content_length);
    } else if (floor_request_is(&req, "GET", "/status")) {
      char body[64];
      int const n = snprintf(body, sizeof body, "{\"clients\": %zu}", floor_stream_count());
      answer(c, "200 OK", body, (size_t)n);
    } else {
      static const char missing[] = "{\"error\": \"not found\"}";
      answer(c, "404 Not Found", missing, sizeof missing - 1);
    }
  }
}

static void on_readable(struct floor_conn* c) {
  for (;;) {
    char chunk[16384];
    ssize_t const n = recv(c->fd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n == 0) {
      floor_conn_close(c); /* the client hung up */
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      floor_conn_close(c);
      return;
    }
    /* A stream's client sends nothing more that matters: drop it. */
    if (!c->is_stream && !floor_buf_append(&c->in, chunk, (size_t)n)) {
      floor_conn_close(c);
      return;
    }
    if ((size_t)n < sizeof chunk) break;
  }
  handle_requests(c);
}

static void accept_all(void) {
  for (;;) {
    int const fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return; /* EAGAIN, or out of descriptors: try again on the next wake-up */
    int const one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!floor_conn_new(fd)) close(fd);
  }
}

static int listen_on(const char* spec) {
  char host[64] = "127.0.0.1";
  unsigned port = 0;
  const char* colon = strrchr(spec, ':');
  if (colon) {
    size_t const n = (size_t)(colon - spec);
    if (n == 0 || n >= sizeof host) return -1;
    memcpy(host, spec, n);
    host[n] = '\0';
    port = (unsigned)atoi(colon + 1);
  }
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) return -1;
  int const fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int const one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(fd, 4096) != 0) return -1;
  return fd;
}

int main(int argc, char** argv) {
  const char* listen_spec = "127.0.0.1:0";
  enum floor_mode mode = FLOOR_WRITE;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
      listen_spec = argv[++i];
    } else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
      ++i;
      if (strcmp(argv[i], "coalesce") == 0)
        mode = FLOOR_COALESCE;
      else if (strcmp(argv[i], "write") != 0)
        return fprintf(stderr, "floor_server: --mode write|coalesce\n"), 2;
    } else {
      return fprintf(stderr, "usage: floor_server [--listen HOST:PORT] [--mode write|coalesce]\n"),
             2;
    }
  }

  /* Every stream is a descriptor: take all the kernel allows. */
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  struct sigaction stop = {.sa_handler = on_signal}; /* no SA_RESTART: epoll_wait returns */
  sigaction(SIGTERM, &stop, NULL);
  sigaction(SIGINT, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  listen_fd = listen_on(listen_spec);
  if (listen_fd < 0) return fprintf(stderr, "floor_server: cannot listen on %s\n", listen_spec), 1;
  int const epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  floor_init(epoll_fd, mode);
  static int listener_tag; /* the listener's epoll data: any address no connection has */
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listener_tag};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);

  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  getsockname(listen_fd, (struct sockaddr*)&addr, &len);
  char host[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &addr.sin_addr, host, sizeof host);
  fprintf(stderr, "floor_server listening on %s:%u (mode %s)\n", host, ntohs(addr.sin_port),
          mode == FLOOR_WRITE ? "write" : "coalesce");

  struct epoll_event events[1024];
  bool flushing = false; /* coalesce: streams still wait for this turn's flush */
  while (!stopping) {
    int const n = epoll_wait(epoll_fd, events, 1024, flushing ? 0 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == &listener_tag) {
        accept_all();
        continue;
      }
      struct floor_conn* c = events[i].data.ptr;
      if (c->dead) continue;
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
      if (!c->dead && (events[i].events & EPOLLOUT)) floor_on_writable(c);
    }
    /* Coalesce: what is queued goes out in one write per stream, FLUSH_SLICE streams per turn,
     * so that requests are read and answered between slices, as factsd does: the publishers
     * keep going while a flush over thousands of streams runs, and each write carries more. */
    if (mode == FLOOR_COALESCE) flushing = floor_flush_dirty(FLUSH_SLICE);
    floor_free_dead();
  }
  fprintf(stderr, "floor_server stopped\n");
  return 0;
}
