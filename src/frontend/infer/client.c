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
 * As gg-force-and-run (or an intercepted tool) the client adds GG_INFER_STDIN=null|closed|file:DEV:INO:PATH|
 * other to the environment it sends: a run can be answered from its memoized output only when it cannot be
 * reading its standard input, or reads a file from its start (declared as the run's input).
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
#include <fcntl.h>
#include <stdint.h>
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

/*
 * Fast answers (fast-answer.ts): a compile the server answered from its memo before leaves a file in
 * $GG_INFER_FAST named after a hash of the request's key (tool, cwd, argv, the variables in FAST_ENV). It
 * holds that key, the exact stat state (device, inode, size, mtime, ctime) of every file the answer depends
 * on, and the files to write. When the key is equal and every file is still in that state, the client
 * writes the files itself and exits 0, without a round trip through the single-threaded server; anything
 * else (no file, a difference, an error) sends the request as usual. Each replay appends a line to
 * $GG_INFER_FAST_LOG so the server can count it.
 */
static const char *const FAST_ENV[] = {"PATH", "GG_INFER_REAL_PATH", "LC_ALL", "LC_CTYPE", "LANG", "CPATH",
  "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH", "LIBRARY_PATH", "COMPILER_PATH",
  "GCC_EXEC_PREFIX", "DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES", "GCC_COMPARE_DEBUG", NULL};

static void fast_key(struct buf *k, const char *tool, const char *cwd, int argc, char **argv) {
  char num[32];
  put(k, "GGF1", 5);
  puts0(k, tool);
  puts0(k, cwd);
  snprintf(num, sizeof num, "%d", argc);
  puts0(k, num);
  for (int i = 0; i < argc; i++) puts0(k, argv[i]);
  for (const char *const *v = FAST_ENV; *v; v++) {
    const char *val = getenv(*v);
    put(k, *v, strlen(*v));
    if (val) { put(k, "=", 1); put(k, val, strlen(val)); }
    put(k, "", 1);
  }
}

/* Two 32-bit FNV-1a lanes (the file name only: the key itself is compared byte for byte). */
static void fast_name(const struct buf *k, char out[17]) {
  uint32_t a = 2166136261u, b = 0x84222325u;
  for (size_t i = 0; i < k->n; i++) {
    a = (a ^ (unsigned char)k->p[i]) * 16777619u;
    b = (b ^ (unsigned char)k->p[i]) * 16777619u;
  }
  snprintf(out, 17, "%08x%08x", a, b);
}

/* A header line of the fast file: up to '\n', at most 200 bytes. */
static char *fast_line(char **at, char *end) {
  char *nl = memchr(*at, '\n', (size_t)(end - *at) < 200 ? (size_t)(end - *at) : 200);
  if (!nl) return NULL;
  char *line = *at;
  *nl = 0;
  *at = nl + 1;
  return line;
}

/* `len` bytes and a '\n' after them. */
static char *fast_bytes(char **at, char *end, unsigned long long len) {
  if (len >= (unsigned long long)(end - *at) || (*at)[len] != '\n') return NULL;
  char *p = *at;
  p[len] = 0;
  *at += len + 1;
  return p;
}

static int write_file(const char *path, const char *data, size_t n, unsigned mode, int placeholder, int do_chmod) {
  if (!placeholder) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return -1;
    int bad = write_all(fd, data, n) != 0;
    return close(fd) != 0 || bad ? -1 : 0;
  }
  /* as writePlaceholder: a temp file, then a rename, so a build never sees half a placeholder */
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.gg-tmp-%d", path, (int)getpid()) >= (int)sizeof tmp) return -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return -1;
  int bad = write_all(fd, data, n) != 0 || (do_chmod && fchmod(fd, mode) != 0);
  if (close(fd) != 0 || bad || rename(tmp, path) != 0) { unlink(tmp); return -1; }
  return 0;
}

/* 1 when the answer was replayed here, else 0 (nothing written, or a write failed: the server rewrites all). */
static int fast_replay(const char *tool, const char *cwd, int argc, char **argv) {
  const char *dir = getenv("GG_INFER_FAST");
  if (!dir || dir[0] != '/') return 0;
  struct buf k = {0};
  fast_key(&k, tool, cwd, argc, argv);
  char name[17], file[PATH_MAX];
  fast_name(&k, name);
  if (snprintf(file, sizeof file, "%s/%c%c/%s", dir, name[0], name[1], name) >= (int)sizeof file) return 0;
  int fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat fst;
  if (fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode) || fst.st_size > (1 << 24)) { close(fd); return 0; }
  struct buf f = {0};
  char chunk[65536];
  for (;;) {
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    put(&f, chunk, (size_t)r);
  }
  close(fd);
  if (f.n == 0) return 0;
  char *at = f.p, *end = f.p + f.n, *line;
  unsigned long long n1, n2;
  if (!(line = fast_line(&at, end)) || strcmp(line, "GGFAST1") != 0) return 0;
  if (!(line = fast_line(&at, end)) || sscanf(line, "K %llu", &n1) != 1 || n1 != k.n) return 0;
  if (n1 >= (unsigned long long)(end - at) || memcmp(at, k.p, k.n) != 0 || at[n1] != '\n') return 0;
  at += n1 + 1;
  /* every file in its recorded state */
  char *writes = NULL;
  while ((line = fast_line(&at, end))) {
    if (line[0] == 'W') { writes = line; break; }
    unsigned long long dev, ino, size, mtime, ctime;
    if (sscanf(line, "C %llu %llu %llu %llu %llu %llu", &n1, &dev, &ino, &size, &mtime, &ctime) != 6) return 0;
    char *path = fast_bytes(&at, end, n1);
    struct stat st;
    if (!path || stat(path, &st) != 0) return 0;
    if ((unsigned long long)st.st_dev != dev || (unsigned long long)st.st_ino != ino ||
        (unsigned long long)st.st_size != size ||
        (unsigned long long)st.st_mtim.tv_sec * 1000000000ull + (unsigned long long)st.st_mtim.tv_nsec != mtime ||
        (unsigned long long)st.st_ctim.tv_sec * 1000000000ull + (unsigned long long)st.st_ctim.tv_nsec != ctime)
      return 0;
  }
  if (!writes) return 0;
  /* then the files: "W <p|d> <mode> <chmod> <path bytes> <data bytes>", path, data; "E" ends the list */
  int placeholders = 0;
  char first[PATH_MAX] = "";
  for (line = writes; line && line[0] == 'W'; line = fast_line(&at, end)) {
    char kind;
    unsigned mode, do_chmod;
    if (sscanf(line, "W %c %o %u %llu %llu", &kind, &mode, &do_chmod, &n1, &n2) != 5) return 0;
    char *path = fast_bytes(&at, end, n1);
    char *data = path ? fast_bytes(&at, end, n2) : NULL;
    if (!data || path[0] != '/' || write_file(path, data, n2, mode & 0777, kind == 'p', do_chmod != 0) != 0) return 0;
    if (kind == 'p' && placeholders++ == 0) snprintf(first, sizeof first, "%s", path);
  }
  if (!line || strcmp(line, "E") != 0) return 0;
  const char *log = getenv("GG_INFER_FAST_LOG");
  if (log && log[0] == '/') {
    int lfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    char entry[PATH_MAX + 32];
    int len = snprintf(entry, sizeof entry, "%d %s\n", placeholders, first);
    if (lfd >= 0) {
      if (len > 0 && len < (int)sizeof entry) write_all(lfd, entry, (size_t)len);
      close(lfd);
    }
  }
  return 1;
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
  char cwd[PATH_MAX], num[32];
  if (!getcwd(cwd, sizeof cwd)) exec_fallback(tool, argv);
  if (!icpt && strcmp(tool, "gg-force-and-run") != 0 && fast_replay(tool, cwd, argc, argv)) return 0;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strcpy(addr.sun_path, sock);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) exec_fallback(tool, argv);

  struct buf req = {0};
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
    char line[PATH_MAX + 96], file[PATH_MAX];
    ssize_t n;
    snprintf(line, sizeof line, "GG_INFER_STDIN=other");
    if (fstat(0, &in) != 0) snprintf(line, sizeof line, "GG_INFER_STDIN=closed");
    else if (S_ISCHR(in.st_mode) && stat("/dev/null", &null) == 0 && in.st_rdev == null.st_rdev)
      snprintf(line, sizeof line, "GG_INFER_STDIN=null");
    else if (S_ISREG(in.st_mode) && lseek(0, 0, SEEK_CUR) == 0 &&
             (n = readlink("/proc/self/fd/0", file, sizeof file - 1)) > 0 && n < (ssize_t)sizeof file - 1 &&
             file[0] == '/') {
      /* a file read from its start (`prog < in`): its device and inode let the server check it names this file */
      file[n] = 0;
      snprintf(line, sizeof line, "GG_INFER_STDIN=file:%llu:%llu:%s", (unsigned long long)in.st_dev,
               (unsigned long long)in.st_ino, file);
    }
    puts0(&req, line);
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
