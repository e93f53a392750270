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
 *        |  "I\n"          exec the intercepted tool itself (below), keeping PATH
 * As gg-force-and-run (or an intercepted tool) the client adds GG_INFER_STDIN=null|closed|other to the
 * environment it sends: a run can be answered from its memoized output only when it cannot be reading its
 * standard input.
 *
 * Interception of tools the build names by absolute path (intercept.ts). Run as `gg-infer-intercept -- CMD`,
 * the client makes a private mount namespace (a slave of the host's, so later host mounts still show),
 * binds itself read-only over each path in $GG_INFER_INTERCEPT (colon-separated absolute paths) and execs
 * CMD; where that is not permitted it execs CMD unchanged (the build runs as without interception). Inside,
 * a client whose /proc/self/exe is one of those paths is that tool: it sends the path as the tool's name,
 * and to run the real tool it makes a namespace of its own, unmounts the bind there and execs the path, so
 * the tool sees itself at its own path (Meson records that path in the build files it writes).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
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

/* The intercepted path this client was executed as (NULL when run as a model on PATH). */
static const char *intercepted(void) {
  static char exe[PATH_MAX];
  const char *list = getenv("GG_INFER_INTERCEPT");
  if (!list || !*list) return NULL;
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return NULL;
  exe[n] = 0;
  size_t len = (size_t)n;
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ':');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == len && strncmp(p, exe, l) == 0) return exe;
    if (!e) break;
    p = e + 1;
  }
  return NULL;
}

/* The real tool under the bind: unmounted in a namespace of this process's own, then executed at its path. */
static void exec_intercepted(const char *path, char **argv) {
  if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
      umount2(path, MNT_DETACH) != 0) {
    fprintf(stderr, "gg infer: cannot reach the real %s under gg's model (%s)\n", path, strerror(errno));
    exit(127);
  }
  execv(path, argv);
  fprintf(stderr, "gg infer: cannot run %s: %s\n", path, strerror(errno));
  exit(127);
}

/* gg-infer-intercept -- CMD...: run CMD in a mount namespace where the intercepted paths are this client. */
static int launch(int argc, char **argv) {
  int i = 1;
  if (i < argc && strcmp(argv[i], "--") == 0) i++;
  if (i >= argc) { fprintf(stderr, "gg infer: gg-infer-intercept needs a command\n"); return 127; }
  const char *list = getenv("GG_INFER_INTERCEPT");
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  int ok = list && *list && n > 0 && unshare(CLONE_NEWNS) == 0 &&
           mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) == 0;
  if (ok) {
    self[n] = 0;
    char *copy = strdup(list), *save = NULL;
    for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
      /* read-only: a build writing to the tool's path must not change the client */
      if (mount(self, p, NULL, MS_BIND, NULL) != 0) continue;
      if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) != 0) umount2(p, MNT_DETACH);
    }
  }
  /* the build must not take the list for its own (nothing is intercepted without the namespace) */
  if (!ok) unsetenv("GG_INFER_INTERCEPT");
  execvp(argv[i], argv + i);
  fprintf(stderr, "gg infer: could not run %s: %s\n", argv[i], strerror(errno));
  return 127;
}

/* No server: find the tool on the real PATH, skipping anything that is this very program. */
static void exec_fallback(const char *tool, char **argv) {
  if (tool[0] == '/') exec_intercepted(tool, argv);
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
  if (strcmp(base(argv[0]), "gg-infer-intercept") == 0) return launch(argc, argv);
  const char *icpt = intercepted();
  const char *tool = icpt ? icpt : base(argv[0]);
  const char *sock = getenv("GG_INFER_SOCKET");
  if (icpt && (!sock || !*sock)) exec_intercepted(icpt, argv);
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
  int envc = 0, runner = icpt != NULL || strcmp(tool, "gg-force-and-run") == 0;
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
  if (ans.p[0] == 'I' && icpt) exec_intercepted(icpt, argv);
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
