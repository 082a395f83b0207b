/* Connections, the set of streams, fan-out and flushing, in the floor's two modes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "floor.h"

/* A stream this far behind is cut off rather than buffered without bound. */
#define FLOOR_MAX_QUEUE (64u * 1024u * 1024u)

static int epoll_fd = -1;
static enum floor_mode mode;
static struct floor_conn** streams;
static size_t stream_count, stream_cap;
static struct floor_conn** dirty;
static size_t dirty_head, dirty_count, dirty_cap; /* dirty[dirty_head..dirty_count) wait */
static struct floor_conn* dead_list;

void floor_init(int fd, enum floor_mode m) {
  epoll_fd = fd;
  mode = m;
}

bool floor_buf_append(struct floor_buf* b, const void* bytes, size_t n) {
  if (b->off == b->len) b->off = b->len = 0; /* empty: start over at the front */
  if (b->len + n > b->cap) {
    if (b->off > 0) { /* slide the pending bytes down before growing */
      memmove(b->data, b->data + b->off, b->len - b->off);
      b->len -= b->off;
      b->off = 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + n > cap)
      cap *= 2;
    if (cap != b->cap) {
      char* grown = realloc(b->data, cap);
      if (!grown) return false;
      b->data = grown;
      b->cap = cap;
    }
  }
  memcpy(b->data + b->len, bytes, n);
  b->len += n;
  return true;
}

static void set_want_out(struct floor_conn* c, bool want) {
  if (c->want_out == want || c->dead) return;
  c->want_out = want;
  struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0u), .data.ptr = c};
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

struct floor_conn* floor_conn_new(int fd) {
  struct floor_conn* c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->fd = fd;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    free(c);
    return NULL;
  }
  return c;
}

static void stream_remove(struct floor_conn* c) {
  struct floor_conn* last = streams[--stream_count];
  streams[c->stream_index] = last;
  last->stream_index = c->stream_index;
}

void floor_conn_close(struct floor_conn* c) {
  if (c->dead) return;
  c->dead = true;
  if (c->is_stream) stream_remove(c);
  close(c->fd); /* also takes it out of the epoll set */
  /* Freed after the loop turn: later events of this turn may still point at it. */
  c->next_dead = dead_list;
  dead_list = c;
}

void floor_free_dead(void) {
  /* One still in the dirty list, waiting for a later turn's flush, is freed after that. */
  struct floor_conn* kept = NULL;
  while (dead_list) {
    struct floor_conn* c = dead_list;
    dead_list = c->next_dead;
    if (c->dirty) {
      c->next_dead = kept;
      kept = c;
      continue;
    }
    free(c->in.data);
    free(c->out.data);
    free(c->lens);
    free(c);
  }
  dead_list = kept;
}

/* Sends what the socket takes now; returns false if the connection broke. */
static bool send_some(struct floor_conn* c, const char* bytes, size_t n, size_t* sent) {
  ssize_t const w = send(c->fd, bytes, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w >= 0) {
    *sent = (size_t)w;
    return true;
  }
  *sent = 0;
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

static bool push_len(struct floor_conn* c, size_t n) {
  if (c->lens_head == c->lens_len) c->lens_head = c->lens_len = 0;
  if (c->lens_len == c->lens_cap) {
    size_t cap = c->lens_cap ? c->lens_cap * 2 : 16;
    uint32_t* grown = realloc(c->lens, cap * sizeof *grown);
    if (!grown) return false;
    c->lens = grown;
    c->lens_cap = cap;
  }
  c->lens[c->lens_len++] = (uint32_t)n;
  return true;
}

/* Queues bytes the socket did not take; in write mode they stay one event (one write). */
static void queue(struct floor_conn* c, const char* bytes, size_t n) {
  if (c->out.len - c->out.off + n > FLOOR_MAX_QUEUE || !floor_buf_append(&c->out, bytes, n) ||
      (mode == FLOOR_WRITE && c->is_stream && !push_len(c, n))) {
    floor_conn_close(c);
    return;
  }
  set_want_out(c, true);
}

void floor_send(struct floor_conn* c, const char* bytes, size_t n) {
  size_t sent = 0;
  if (c->out.off == c->out.len && !send_some(c, bytes, n, &sent)) {
    floor_conn_close(c);
    return;
  }
  if (sent < n) queue(c, bytes + sent, n - sent);
}

void floor_stream_add(struct floor_conn* c) {
  if (stream_count == stream_cap) {
    size_t cap = stream_cap ? stream_cap * 2 : 1024;
    struct floor_conn** grown = realloc(streams, cap * sizeof *grown);
    if (!grown) {
      floor_conn_close(c);
      return;
    }
    streams = grown;
    stream_cap = cap;
  }
  c->is_stream = true;
  c->stream_index = stream_count;
  streams[stream_count++] = c;
}

size_t floor_stream_count(void) {
  return stream_count;
}

static void mark_dirty(struct floor_conn* c) {
  if (c->dirty) return;
  if (dirty_count == dirty_cap) {
    size_t cap = dirty_cap ? dirty_cap * 2 : 1024;
    struct floor_conn** grown = realloc(dirty, cap * sizeof *grown);
    if (!grown) return;
    dirty = grown;
    dirty_cap = cap;
  }
  c->dirty = true;
  dirty[dirty_count++] = c;
}

void floor_fanout(const char* event, size_t n) {
  /* Backwards: a stream that breaks is swapped out with the last one, already visited. */
  for (size_t i = stream_count; i-- > 0;) {
    struct floor_conn* c = streams[i];
    if (mode == FLOOR_WRITE) {
      floor_send(c, event, n); /* one write per event, unless it is behind: then queued */
    } else if (floor_buf_append(&c->out, event, n) && c->out.len - c->out.off <= FLOOR_MAX_QUEUE) {
      if (!c->want_out) mark_dirty(c); /* one armed for EPOLLOUT flushes when writable */
    } else {
      floor_conn_close(c);
    }
  }
}

/* Coalesce: everything queued for a stream in one write. */
static void flush_all(struct floor_conn* c) {
  size_t sent = 0;
  if (!send_some(c, c->out.data + c->out.off, c->out.len - c->out.off, &sent)) {
    floor_conn_close(c);
    return;
  }
  c->out.off += sent;
  set_want_out(c, c->out.off < c->out.len);
}

bool floor_flush_dirty(size_t budget) {
  size_t const end = dirty_count - dirty_head > budget ? dirty_head + budget : dirty_count;
  for (; dirty_head < end; ++dirty_head) {
    struct floor_conn* c = dirty[dirty_head];
    c->dirty = false;
    if (!c->dead && c->out.off < c->out.len) flush_all(c);
  }
  if (dirty_head < dirty_count) return true;
  dirty_head = dirty_count = 0;
  return false;
}

void floor_on_writable(struct floor_conn* c) {
  if (mode == FLOOR_COALESCE || !c->is_stream) {
    flush_all(c);
    return;
  }
  /* Write mode: the queued events one write each, until the socket is full again. */
  while (c->lens_head < c->lens_len) {
    size_t const n = c->lens[c->lens_head];
    size_t sent = 0;
    if (!send_some(c, c->out.data + c->out.off, n, &sent)) {
      floor_conn_close(c);
      return;
    }
    c->out.off += sent;
    if (sent < n) {
      c->lens[c->lens_head] = (uint32_t)(n - sent);
      return;
    }
    ++c->lens_head;
  }
  set_want_out(c, false);
}
