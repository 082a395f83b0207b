/* The floor: the smallest correct fan-out server, for scripts/bench. Plain C on epoll, one
 * thread, no HTTP library, no history. GET /events opens a stream (an empty snapshot, then one
 * event per fact), POST /fact fans the body out to every stream and answers 201 with it,
 * GET /status answers {"clients": N}.
 *
 * Two modes, the two physical references for a fan-out server on this machine:
 *   write     one write() per event per stream; a stream that falls behind also gets its queued
 *             events one write() each
 *   coalesce  events are queued per stream and, once per event-loop turn, everything queued for
 *             a stream goes out in one write()
 */
#ifndef FLOOR_H
#define FLOOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum floor_mode { FLOOR_WRITE, FLOOR_COALESCE };

/* Bytes waiting: [off, len) of data. */
struct floor_buf {
  char* data;
  size_t off, len, cap;
};

struct floor_conn {
  int fd;
  bool is_stream;
  bool dead;     /* closed; freed once the current loop turn is over */
  bool dirty;    /* coalesce: queued bytes to flush this turn */
  bool want_out; /* EPOLLOUT is armed */
  size_t stream_index;
  struct floor_buf in;  /* request bytes not handled yet */
  struct floor_buf out; /* bytes the socket did not take yet */
  /* write mode: the sizes of the events queued in out, each to go in its own write() */
  uint32_t* lens;
  size_t lens_head, lens_len, lens_cap;
  struct floor_conn* next_dead;
};

/* floor_conn.c: connections, the stream set, fan-out and flushing. */
void floor_init(int epoll_fd, enum floor_mode mode);
struct floor_conn* floor_conn_new(int fd);
void floor_conn_close(struct floor_conn* c);
void floor_free_dead(void);
bool floor_buf_append(struct floor_buf* b, const void* bytes, size_t n);
void floor_send(struct floor_conn* c, const char* bytes, size_t n); /* a whole answer */
void floor_stream_add(struct floor_conn* c);
size_t floor_stream_count(void);
void floor_fanout(const char* event, size_t n);
/* Coalesce: flushes up to `budget` streams with queued bytes; true if some still wait. */
bool floor_flush_dirty(size_t budget);
void floor_on_writable(struct floor_conn* c);

/* floor_http.c: request heads. */
struct floor_request {
  const char* method;
  size_t method_len;
  const char* path;
  size_t path_len;
  size_t content_length;
  size_t head_len; /* bytes up to and including the blank line */
};
/* 1: a complete head was parsed; 0: need more bytes; -1: malformed. */
int floor_parse_request(const char* data, size_t len, struct floor_request* req);
bool floor_request_is(const struct floor_request* req, const char* method, const char* path);

#endif
