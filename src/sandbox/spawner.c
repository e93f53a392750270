/*
 * gg-spawner: the spawner's helper process (src/sandbox/spawner.ts) in C. It starts programs on request,
 * relays their pipes and reports how they ended, as spawner-child.ts does in Node, which stays the fallback
 * where this binary was not built (no C compiler at install). Why C: Node starts a program only by fork(),
 * and a Node process forks with its ~50 MB mapped, which perf put at ~15 ms of CPU per jail on this VM
 * (the helper and its child before exec); posix_spawn from this process copies no memory at all.
 *
 * Its parent is gg, trusted: requests come on stdin, replies go to stdout, each a frame (u32 little-endian
 * length, then the body). It exits, killing what it started, when stdin ends (gg closed it or died).
 *
 * Request 'R' (run): u32 id, u8 flags (1: report CPU), str file, str argv0, str cwd, str log, u32 argc,
 *   argc x str (the arguments after argv[0]), u32 envc, envc x str ("K=V"), u32 nfds, nfds x (u8 kind, str path), u32 input fd (0: none),
 *   str input. kind: 0 none, 1 a socket pair relayed both ways, 2 a file opened read-only, 3 write-only.
 *   str: u32 length, then bytes (no NUL inside, but for the input).
 * Request 'K' (kill): u32 id.
 * Reply 'S' id pid | 'D' id fd bytes... | 'X' id i32 code (-1: by signal) i32 signal i64 cpu ms (-1: none) |
 *   'E' id u32 errno (it did not start).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FRAME (64u << 20)
#define MAX_FDS 16
#define MAX_RUNS 1024

struct run {
  uint32_t id;
  pid_t pid;
  int cpu;
  int exited; /* reaped: status and usage below are final */
  int status;
  struct rusage usage;
  int relay[MAX_FDS]; /* our end of each socket pair, -1 once closed (or none) */
};

static struct run *runs[MAX_RUNS];
static int nruns;

static void die(void) {
  for (int i = 0; i < nruns; i++)
    if (!runs[i]->exited) kill(-runs[i]->pid, SIGKILL);
  _exit(0);
}

static void write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die(); /* gg is gone */
    c += w;
    n -= (size_t)w;
  }
}

/* One reply: a header of tag and id, then the fields. */
static void reply(char tag, uint32_t id, const void *body, size_t n) {
  char head[9];
  uint32_t len = (uint32_t)(5 + n);
  memcpy(head, &len, 4);
  head[4] = tag;
  memcpy(head + 5, &id, 4);
  write_all(1, head, 9);
  if (n) write_all(1, body, n);
}

/* A request's fields, read in order; any overrun marks it bad. */
struct reader {
  const unsigned char *p, *end;
  int bad;
};

static uint32_t u32(struct reader *r) {
  uint32_t v = 0;
  if (r->end - r->p < 4) return r->bad = 1, 0;
  memcpy(&v, r->p, 4);
  r->p += 4;
  return v;
}

static uint8_t u8(struct reader *r) {
  if (r->p >= r->end) return r->bad = 1, 0;
  return *r->p++;
}

/* A malloc'd NUL-terminated copy; NULL (and bad) on overrun, or on a NUL inside unless it is bytes (len_out). */
static char *str(struct reader *r, uint32_t *len_out) {
  uint32_t n = u32(r);
  if (r->bad || (size_t)(r->end - r->p) < n || (!len_out && memchr(r->p, 0, n))) return r->bad = 1, NULL;
  char *s = malloc((size_t)n + 1);
  if (!s) return r->bad = 1, NULL;
  memcpy(s, r->p, n);
  s[n] = 0;
  r->p += n;
  if (len_out) *len_out = n;
  return s;
}

static char **strs(struct reader *r, uint32_t *count) {
  uint32_t n = u32(r);
  if (r->bad || n > (uint32_t)(r->end - r->p) / 4) return r->bad = 1, NULL;
  char **v = calloc((size_t)n + 1, sizeof *v);
  if (!v) return r->bad = 1, NULL;
  for (uint32_t i = 0; i < n && !r->bad; i++) v[i] = str(r, NULL);
  *count = n;
  return v;
}

static void free_strs(char **v, uint32_t n) {
  if (!v) return;
  for (uint32_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static struct run *find(uint32_t id) {
  for (int i = 0; i < nruns; i++)
    if (runs[i]->id == id) return runs[i];
  return NULL;
}

/*
 * Starts the program: posix_spawn (glibc's clones without copying this process's memory and reports a failed
 * exec as its result) with a session of its own (its group is what a kill ends), the default signal state,
 * stdin /dev/null, stdout and stderr the log, descriptors 3.. as asked, and nothing else open (all of ours are
 * close-on-exec). Searches the program's own PATH, as Node's spawn does, when the name has no slash.
 */
static int spawn_program(pid_t *pid, int log, const int *fds, int nfds, const char *cwd, const char *file,
                         char **argv, char **envp) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  int err = 0, moved[MAX_FDS], top = 3 + nfds, out = -1;
  for (int i = 0; i < nfds; i++) moved[i] = -1;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  /* Every source is first moved above the targets, so no dup2 below overwrites another's source. */
  if ((out = fcntl(log, F_DUPFD_CLOEXEC, top)) < 0) err = errno;
  for (int i = 0; i < nfds && !err; i++)
    if (fds[i] >= 0 && (moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, top)) < 0) err = errno;
  sigset_t none, dflt;
  sigemptyset(&none);
  sigemptyset(&dflt);
  sigaddset(&dflt, SIGINT);
  sigaddset(&dflt, SIGPIPE);
  int set[] = {
      posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF),
      posix_spawnattr_setsigmask(&at, &none),
      posix_spawnattr_setsigdefault(&at, &dflt),
      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0),
      posix_spawn_file_actions_adddup2(&fa, out, 1),
      posix_spawn_file_actions_adddup2(&fa, out, 2),
      posix_spawn_file_actions_addchdir_np(&fa, cwd),
  };
  for (size_t i = 0; i < sizeof set / sizeof *set && !err; i++) err = set[i];
  for (int i = 0; i < nfds && !err; i++)
    if (moved[i] >= 0) err = posix_spawn_file_actions_adddup2(&fa, moved[i], 3 + i);
  if (!err && strchr(file, '/')) {
    err = posix_spawn(pid, file, &fa, &at, argv, envp);
  } else if (!err) {
    const char *path = "/usr/bin:/bin";
    for (char **e = envp; *e; e++)
      if (!strncmp(*e, "PATH=", 5)) path = *e + 5;
    int first = ENOENT;
    for (const char *p = path;; p++) {
      const char *colon = strchrnul(p, ':');
      char buf[4096];
      size_t dir = (size_t)(colon - p);
      if (dir + strlen(file) + 2 <= sizeof buf) {
        memcpy(buf, p, dir);
        buf[dir] = '/';
        strcpy(buf + dir + 1, file);
        err = posix_spawn(pid, dir ? buf : file, &fa, &at, argv, envp);
        if (!err) break;
        if (err != ENOENT && err != ENOTDIR) first = err;
      }
      if (!*colon) {
        err = first;
        break;
      }
      p = colon;
    }
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (out >= 0) close(out);
  for (int i = 0; i < nfds; i++)
    if (moved[i] >= 0) close(moved[i]);
  return err;
}

static void start(struct reader *r) {
  uint32_t id = u32(r);
  int cpu = u8(r) & 1;
  char *file = str(r, NULL), *argv0 = str(r, NULL), *cwd = str(r, NULL), *logp = str(r, NULL);
  uint32_t argc = 0, envc = 0, nfds = 0, input_len = 0;
  char **args = strs(r, &argc), **env = strs(r, &envc);
  nfds = u32(r);
  int kinds[MAX_FDS];
  char *paths[MAX_FDS] = {0};
  if (nfds > MAX_FDS) r->bad = 1;
  for (uint32_t i = 0; i < nfds && !r->bad; i++) {
    kinds[i] = u8(r);
    paths[i] = str(r, NULL);
  }
  uint32_t input_fd = u32(r);
  char *input = str(r, &input_len);
  int err = r->bad || r->p != r->end || !args || !env ? EINVAL : 0;
  if (!err && nruns == MAX_RUNS) err = EAGAIN;

  int log = -1, ours[MAX_FDS], theirs[MAX_FDS];
  for (int i = 0; i < MAX_FDS; i++) ours[i] = theirs[i] = -1;
  if (!err && (log = open(logp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666)) < 0) err = errno;
  for (uint32_t i = 0; i < nfds && !err; i++) {
    if (kinds[i] == 1) {
      int pair[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) err = errno;
      else ours[i] = pair[0], theirs[i] = pair[1];
    } else if (kinds[i] == 2 || kinds[i] == 3) {
      /* Never O_CREAT or O_TRUNC: what is named must exist, and a cgroup's procs file is written, not replaced. */
      theirs[i] = open(paths[i], (kinds[i] == 3 ? O_WRONLY : O_RDONLY) | O_CLOEXEC | O_NOCTTY);
      if (theirs[i] < 0) err = errno;
    } else if (kinds[i] != 0) {
      err = EINVAL;
    }
  }
  if (!err && input_fd && (input_fd < 3 || input_fd - 3 >= nfds || ours[input_fd - 3] < 0)) err = EINVAL;

  pid_t pid = -1;
  if (!err) {
    /* argv[0] is the name the program is told, not the file run */
    char **argv = malloc(((size_t)argc + 2) * sizeof *argv);
    if (!argv) die();
    argv[0] = argv0;
    memcpy(argv + 1, args, ((size_t)argc + 1) * sizeof *argv);
    err = spawn_program(&pid, log, theirs, (int)nfds, cwd, file, argv, env);
    free(argv);
  }
  if (log >= 0) close(log);
  for (int i = 0; i < MAX_FDS; i++)
    if (theirs[i] >= 0) close(theirs[i]);
  if (err) {
    for (int i = 0; i < MAX_FDS; i++)
      if (ours[i] >= 0) close(ours[i]);
    uint32_t e = (uint32_t)err;
    reply('E', id, &e, 4);
  } else {
    struct run *run = calloc(1, sizeof *run);
    if (!run) die();
    run->id = id;
    run->pid = pid;
    run->cpu = cpu;
    memcpy(run->relay, ours, sizeof ours);
    runs[nruns++] = run;
    uint32_t p = (uint32_t)pid;
    reply('S', id, &p, 4);
    /* Small (bubblewrap's rlimits) on a new socket: it fits in its buffer. Never blocks on a program that
     * does not read; what would not fit is dropped. */
    if (input_fd && input_len) send(ours[input_fd - 3], input, input_len, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  free(file);
  free(argv0);
  free(cwd);
  free(logp);
  free(input);
  free_strs(args, argc);
  free_strs(env, envc);
  for (uint32_t i = 0; i < nfds; i++) free(paths[i]);
}

/* A run is over once reaped and all its sockets are closed: what it wrote is relayed before its end. */
static void finish_if_done(int i) {
  struct run *run = runs[i];
  if (!run->exited) return;
  for (int k = 0; k < MAX_FDS; k++)
    if (run->relay[k] >= 0) return;
  unsigned char body[16];
  int32_t code = WIFEXITED(run->status) ? WEXITSTATUS(run->status) : -1;
  int32_t sig = WIFSIGNALED(run->status) ? WTERMSIG(run->status) : 0;
  int64_t ms = -1;
  if (run->cpu)
    ms = (int64_t)run->usage.ru_utime.tv_sec * 1000 + run->usage.ru_utime.tv_usec / 1000 +
         (int64_t)run->usage.ru_stime.tv_sec * 1000 + run->usage.ru_stime.tv_usec / 1000;
  memcpy(body, &code, 4);
  memcpy(body + 4, &sig, 4);
  memcpy(body + 8, &ms, 8);
  reply('X', run->id, body, 16);
  free(run);
  runs[i] = runs[--nruns];
}

static void reap(void) {
  int status;
  struct rusage usage;
  pid_t pid;
  while ((pid = wait4(-1, &status, WNOHANG, &usage)) > 0) {
    for (int i = 0; i < nruns; i++) {
      if (runs[i]->pid != pid || runs[i]->exited) continue;
      runs[i]->exited = 1;
      runs[i]->status = status;
      runs[i]->usage = usage;
      kill(-pid, SIGKILL); /* stragglers it left in its group */
      finish_if_done(i);
      break;
    }
  }
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  /* A terminal's Ctrl-C reaches the whole foreground group; gg decides what stops (it sends 'K' for each run). */
  signal(SIGINT, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return 1;
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);

  size_t cap = 1 << 16, have = 0;
  unsigned char *buf = malloc(cap);
  static unsigned char data[1 << 16];
  if (!buf) return 1;
  for (;;) {
    static struct pollfd p[2 + MAX_RUNS * MAX_FDS];
    static int owner[2 + MAX_RUNS * MAX_FDS], slot[2 + MAX_RUNS * MAX_FDS];
    int n = 2;
    p[0] = (struct pollfd){.fd = 0, .events = POLLIN};
    p[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
    for (int i = 0; i < nruns; i++)
      for (int k = 0; k < MAX_FDS; k++)
        if (runs[i]->relay[k] >= 0) {
          p[n] = (struct pollfd){.fd = runs[i]->relay[k], .events = POLLIN};
          owner[n] = (int)runs[i]->id, slot[n++] = k;
        }
    if (poll(p, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      die();
    }
    if (p[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {
      }
      reap();
    }
    for (int j = 2; j < n; j++) {
      if (!p[j].revents) continue;
      struct run *run = find((uint32_t)owner[j]);
      if (!run) continue;
      ssize_t got = read(p[j].fd, data, sizeof data);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got > 0) {
        unsigned char *body = malloc((size_t)got + 4);
        if (!body) die();
        uint32_t fd = (uint32_t)(3 + slot[j]);
        memcpy(body, &fd, 4);
        memcpy(body + 4, data, (size_t)got);
        reply('D', run->id, body, (size_t)got + 4);
        free(body);
        continue;
      }
      close(run->relay[slot[j]]);
      run->relay[slot[j]] = -1;
      for (int i = 0; i < nruns; i++)
        if (runs[i] == run) finish_if_done(i);
    }
    if (p[0].revents) {
      if (have == cap) {
        cap *= 2;
        if (cap > MAX_FRAME + 4 || !(buf = realloc(buf, cap))) die();
      }
      ssize_t got = read(0, buf + have, cap - have);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) die(); /* gg closed the channel or is gone */
      have += (size_t)got;
      size_t at = 0;
      while (have - at >= 4) {
        uint32_t len;
        memcpy(&len, buf + at, 4);
        if (len > MAX_FRAME || len < 1) die();
        if (have - at - 4 < len) {
          if (len + 4 > cap) {
            while (cap < len + 4) cap *= 2;
            if (!(buf = realloc(buf, cap))) die();
          }
          break;
        }
        struct reader r = {buf + at + 5, buf + at + 4 + len, 0};
        char tag = (char)buf[at + 4];
        if (tag == 'R') {
          start(&r);
        } else if (tag == 'K') {
          struct run *run = find(u32(&r));
          if (run && !run->exited) kill(-run->pid, SIGKILL);
        }
        at += 4 + len;
      }
      memmove(buf, buf + at, have - at);
      have -= at;
    }
  }
}
