/*
 * gg infer's model client: every model program on PATH (gcc, cc, ar, ...) is this one binary.
 * It sends its argv, cwd and environment to the `gg infer` server over the unix socket named by
 * $GG_INFER_SOCKET and does what the answer says: print the model's output and exit with its status, or
 * exec the real tool (queries, fallbacks). With no server it execs the real tool at once, so a build
 * directory configured under gg infer still builds without it.
 *
 * Request:  "GGI1\0" tool\0 cwd\0 argc\0 argv...\0 envc\0 env...\0   (then shutdown(SHUT_WR))
 * Answer:   "X <status> <stdout bytes> <stderr bytes>\n" stdout stderr
 *        |  "R <path>\n"  exec path with PATH=$GG_INFER_REAL_PATH
 *        |  "P <path>\n"  exec path keeping PATH (a wrapper script whose children are models too)
 *        |  "A\n"          exec argv[1] with argv[1..] and the real PATH (a program the build runs through
 *                          a placeholder's `#!/usr/bin/env gg-force-and-run`, forced into place by the server)
 * As gg-force-and-run the client adds GG_INFER_STDIN=null|closed|other to the environment it sends: a run
 * can be answered from its memoized output only when it cannot be reading its standard input.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

struct buf { char *p; size_t n, cap; };

static void put(struct buf *b, const char *s, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 4096;
    b->p = realloc(b->p, b->cap);
    if (!b->p) { perror("gg-infer-client"); exit(127); }
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

static void puts0(struct buf *b, const char *s) { put(b, s, strlen(s) + 1); }

static const char *base(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w; n -= (size_t)w;
  }
  return 0;
}

static void exec_real(const char *path, char **argv, int restore_path) {
  const char *real = getenv("GG_INFER_REAL_PATH");
  if (restore_path && real) setenv("PATH", real, 1);
  /* argv[0] is the real path: gcc finds cc1 and friends relative to it. */
  argv[0] = (char *)path;
  execv(path, argv);
  fprintf(stderr, "gg infer: cannot run %s: %s\n", path, strerror(errno));
  exit(127);
}

/* No server: find the tool on the real PATH, skipping anything that is this very program. */
static void exec_fallback(const char *tool, char **argv) {
  const char *real = getenv("GG_INFER_REAL_PATH");
  const char *path = real ? real : getenv("PATH");
  char self[PATH_MAX], cand[PATH_MAX], resolved[PATH_MAX];
  if (!realpath("/proc/self/exe", self)) self[0] = 0;
  if (path) {
    char *copy = strdup(path), *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
      snprintf(cand, sizeof cand, "%s/%s", *dir ? dir : ".", tool);
      if (access(cand, X_OK) != 0) continue;
      if (realpath(cand, resolved) && strcmp(resolved, self) == 0) continue;
      exec_real(cand, argv, 1);
    }
  }
  /* a placeholder run outside gg infer's server, with the model directory still on PATH: the Node runner */
  if (strcmp(tool, "gg-force-and-run") == 0) {
    const char *cur = getenv("PATH");
    char *copy = strdup(cur ? cur : ""), *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
      snprintf(cand, sizeof cand, "%s/gg-force-and-run-node", *dir ? dir : ".");
      if (access(cand, X_OK) == 0) exec_real(cand, argv, 0);
    }
  }
  fprintf(stderr, "gg infer: %s: the real tool is not on PATH\n", tool);
  exit(127);
}

int main(int argc, char **argv) {
  const char *tool = base(argv[0]);
  const char *sock = getenv("GG_INFER_SOCKET");
  if (!sock || !*sock || strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) exec_fallback(tool, argv);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strcpy(addr.sun_path, sock);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) exec_fallback(tool, argv);

  struct buf req = {0};
  char cwd[PATH_MAX], num[32];
  if (!getcwd(cwd, sizeof cwd)) exec_fallback(tool, argv);
  put(&req, "GGI1", 5);
  puts0(&req, tool);
  puts0(&req, cwd);
  snprintf(num, sizeof num, "%d", argc);
  puts0(&req, num);
  for (int i = 0; i < argc; i++) puts0(&req, argv[i]);
  int envc = 0, runner = strcmp(tool, "gg-force-and-run") == 0;
  for (char **e = environ; *e; e++) envc++;
  snprintf(num, sizeof num, "%d", envc + runner);
  puts0(&req, num);
  for (char **e = environ; *e; e++) puts0(&req, *e);
  if (runner) {
    struct stat in, null;
    const char *kind = "other";
    if (fstat(0, &in) != 0) kind = "closed";
    else if (S_ISCHR(in.st_mode) && stat("/dev/null", &null) == 0 && in.st_rdev == null.st_rdev) kind = "null";
    puts0(&req, kind[0] == 'n' ? "GG_INFER_STDIN=null" : kind[0] == 'c' ? "GG_INFER_STDIN=closed" : "GG_INFER_STDIN=other");
  }
  if (write_all(fd, req.p, req.n) != 0) exec_fallback(tool, argv);
  shutdown(fd, SHUT_WR);

  struct buf ans = {0};
  char chunk[65536];
  for (;;) {
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r < 0) { if (errno == EINTR) continue; break; }
    if (r == 0) break;
    put(&ans, chunk, (size_t)r);
  }
  close(fd);
  put(&ans, "", 1);
  char *nl = memchr(ans.p, '\n', ans.n);
  if (!nl) {
    fprintf(stderr, "gg infer: no answer from the server for %s; running the real tool\n", tool);
    exec_fallback(tool, argv);
  }
  *nl = 0;
  if (ans.p[0] == 'R' || ans.p[0] == 'P') exec_real(ans.p + 2, argv, ans.p[0] == 'R');
  if (ans.p[0] == 'A' && argc > 1) {
    const char *real = getenv("GG_INFER_REAL_PATH");
    if (real) setenv("PATH", real, 1);
    execv(argv[1], argv + 1);
    fprintf(stderr, "gg infer: cannot run %s: %s\n", argv[1], strerror(errno));
    exit(127);
  }
  int status = 1;
  unsigned long nout = 0, nerr = 0;
  if (sscanf(ans.p, "X %d %lu %lu", &status, &nout, &nerr) != 3 || nl + 1 + nout + nerr > ans.p + ans.n) {
    fprintf(stderr, "gg infer: bad answer from the server: %.80s\n", ans.p);
    return 127;
  }
  write_all(1, nl + 1, nout);
  write_all(2, nl + 1 + nout, nerr);
  return status;
}
