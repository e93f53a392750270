/*
 * gg-memo-force: `gg force` for the one case that is nothing but start-up, done before Node starts.
 *
 * A fully memoized force (every target a placeholder whose memo entry names a value the local store holds)
 * only copies blobs over placeholders; Node's start alone (~20 ms) is then most of the time. The `gg`
 * launcher (scripts/bundle.mjs) runs this program first for `gg force`. It does what the Node path does for
 * that case, with the same results (outputs, modes, the job trace in .gg/jobs, what is printed, the exit
 * status), and nothing else: anything it does not recognise exactly, it leaves alone and exits HAND_OVER,
 * and the launcher runs the Node path, which handles (or reports) it.
 *
 * Everything is decided before anything is written: every target, memo entry and blob is read and checked
 * first; then the outputs are copied to temporary names; only when all copies are made are they renamed over
 * the placeholders. A failure before the renames removes what this run wrote and hands over.
 *
 * It never hashes: a blob is trusted only when gg's hash cache (.gg/cache/hash-cache.log, src/store/
 * hash-cache.ts) names its exact current state (device, inode, size, mtime, ctime) with the value's name, as
 * the Node path trusts it. A blob rewritten in place with its mtime put back has a new ctime: no record, hand
 * over, and Node rehashes it and reports the corruption.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* EX_TEMPFAIL: the launcher runs the Node path on it. */
#define HAND_OVER 75
#define MAX_TARGETS 4096
#define MAX_PLACEHOLDER 512 /* src/ir/placeholder.ts, MAX_PLACEHOLDER_BYTES */
#define TRACES_KEPT 50      /* src/force/job-trace.ts, DEFAULT_TRACES_KEPT */
#define MAX_HASH_LOG (256L << 20)

static const char SHEBANG[] = "#!/usr/bin/env gg-force-and-run\n";
static const char LINKER[] = "OUTPUT_FORMAT(\"elf64-x86-64\")/*\n";

struct target {
  const char *spec;  /* as given */
  char *file;        /* absolute, for the trace */
  char ref[128];     /* NAME or NAME#tag */
  char value[64];    /* the memo's result: a value name */
  char key[128];     /* the blob's state, as hash-cache.ts keys it */
  dev_t dev;         /* the placeholder (and the blob, below) */
  ino_t ino;
  mode_t mode;
  int first;         /* the first target with this ref (counted, traced once) */
  char *tmp;         /* the copy, before its rename */
  const char *found; /* the hash cache's name for `key` */
};

static struct target T[MAX_TARGETS];
static int nT;
static const char *why_env;
static int pid;

static void hand_over(const char *why, const char *what) {
  if (why_env) fprintf(stderr, "gg-memo-force: hand over: %s%s%s\n", why, what ? ": " : "", what ? what : "");
  exit(HAND_OVER);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) hand_over("out of memory", NULL);
  return p;
}

static char *joinpath(const char *a, const char *b, const char *c) {
  size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
  char *p = xmalloc(n);
  snprintf(p, n, "%s%s%s", a, b, c);
  return p;
}

/* Printable ASCII only: such a string is its own JSON text between quotes once " and \ are escaped, and Node
 * reads it as the same string (argv, paths and the host name go into the trace). */
static int plain(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) return 0;
  return 1;
}

/* src/ir/name.ts NAME_RE: [VT] + 43 of [A-Za-z0-9._] + 8 or 16 lowercase hex digits. */
static int valid_name(const char *s, size_t n) {
  if (n != 52 && n != 60) return 0;
  if (s[0] != 'V' && s[0] != 'T') return 0;
  for (size_t i = 1; i < 44; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_'))
      return 0;
  }
  for (size_t i = 44; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

/* A ref as a memo file name: NAME, or T-NAME#tag with a tag of plain file-name characters (stricter than
 * name.ts's isSafeTag: anything else is Node's to judge). */
static int valid_ref(const char *s, size_t n) {
  const char *hash = memchr(s, '#', n);
  size_t nn = hash ? (size_t)(hash - s) : n;
  if (!valid_name(s, nn)) return 0;
  if (!hash) return 1;
  if (s[0] != 'T' || n - nn - 1 == 0 || n - nn - 1 > 64) return 0;
  for (const char *p = hash + 1; p < s + n; p++) {
    char c = *p;
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-' || c == '+'))
      return 0;
  }
  return strncmp(hash + 1, ".", n - nn - 1) != 0 && strncmp(hash + 1, "..", n - nn - 1) != 0;
}

/* Read a small file without following a link: -1 unless it holds 1 to `max` bytes. With `st`, it must be a
 * regular file (fstat); without, a directory or FIFO fails the read and anything longer fails the size. */
static ssize_t read_small(const char *path, char *buf, size_t max, struct stat *st) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = -1;
  if (!st || (fstat(fd, st) == 0 && S_ISREG(st->st_mode) && st->st_size > 0 && (size_t)st->st_size <= max))
    n = pread(fd, buf, max + 1, 0);
  close(fd);
  return n > 0 && (size_t)n <= max ? n : -1;
}

/* hash-cache.ts statKey: dev:ino:size:mtimeNs:ctimeNs. */
static void stat_key(const struct stat *st, char *out, size_t n) {
  snprintf(out, n, "%ju:%ju:%jd:%lld:%lld", (uintmax_t)st->st_dev, (uintmax_t)st->st_ino, (intmax_t)st->st_size,
           (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec,
           (long long)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec);
}

/* The value name's size field (its last 8 or 16 hex digits). */
static uint64_t name_size(const char *name) {
  size_t n = strlen(name);
  return strtoull(name + 44, NULL, 16) * (n == 52 || n == 60);
}

/* ---- the hash cache: one pass over the log, the last record of each key we need wins (as Map.set does) ---- */

static uint32_t fnv(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* The slot of `key` in the table (open addressing; table[h] < 0: a free slot). */
static size_t slot(const int *table, size_t slots, const char *key, size_t n) {
  size_t h = fnv(key, n) & (slots - 1);
  while (table[h] >= 0 && !(strlen(T[table[h]].key) == n && memcmp(T[table[h]].key, key, n) == 0))
    h = (h + 1) & (slots - 1);
  return h;
}

static void check_hash_cache(const char *ggdir) {
  size_t slots = 1;
  while (slots < 2 * (size_t)nT) slots <<= 1;
  int *table = xmalloc(slots * sizeof(int));
  for (size_t i = 0; i < slots; i++) table[i] = -1;
  for (int i = 0; i < nT; i++) {
    size_t h = slot(table, slots, T[i].key, strlen(T[i].key));
    if (table[h] < 0) table[h] = i; /* the first target whose blob is in this state holds its record */
  }
  char *path = joinpath(ggdir, "/cache/hash-cache.log", "");
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_HASH_LOG)
    hand_over("no usable hash cache", path);
  char *log = xmalloc((size_t)st.st_size + 1);
  size_t len = 0;
  for (ssize_t n; len < (size_t)st.st_size && (n = read(fd, log + len, (size_t)st.st_size - len)) > 0;) len += n;
  close(fd);
  for (char *line = log, *end; line < log + len; line = end + 1) {
    end = memchr(line, '\n', log + len - line);
    if (!end) break; /* a record being appended now: not ours to read */
    char *sp = memchr(line, ' ', end - line);
    if (!sp || sp == line) continue;
    size_t h = slot(table, slots, line, sp - line);
    if (table[h] < 0) continue;
    *end = '\0';
    T[table[h]].found = sp + 1;
  }
  for (int i = 0; i < nT; i++) {
    const char *found = T[table[slot(table, slots, T[i].key, strlen(T[i].key))]].found;
    if (!found || strcmp(found, T[i].value) != 0) hand_over("the hash cache does not vouch for the blob", T[i].value);
  }
}

/* ---- the job trace (src/force/job-trace.ts): same file name, records and byte-for-byte JSON ---- */

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Keep the newest `keep` traces (pruneTraces). */
static void prune_traces(const char *dir, int keep) {
  DIR *d = opendir(dir);
  if (!d) return;
  char **names = NULL;
  size_t n = 0, cap = 0;
  for (struct dirent *e; (e = readdir(d));) {
    size_t l = strlen(e->d_name);
    if (l < 6 || strcmp(e->d_name + l - 6, ".jsonl") != 0) continue;
    if (n == cap) {
      char **more = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
      if (!more) break;
      names = more;
    }
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  if (n > (size_t)keep) {
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n - keep; i++)
      if (names[i]) unlinkat(-1, joinpath(dir, "/", names[i]), 0);
  }
}

static long long now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- copying a blob to a temporary name beside its target ---- */

static int copy_blob(struct target *t, const char *ggdir, unsigned counter) {
  char *blob = joinpath(ggdir, "/blobs/", t->value);
  int in = open(blob, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  free(blob);
  struct stat st;
  char key[128];
  if (in < 0 || fstat(in, &st) != 0) return -1;
  stat_key(&st, key, sizeof key);
  if (strcmp(key, t->key) != 0) { /* changed since it was checked */
    close(in);
    errno = ESTALE;
    return -1;
  }
  char tmp[64];
  snprintf(tmp, sizeof tmp, ".gg-tmp-%d-%llx-%x", pid, now_ms(), counter);
  t->tmp = joinpath(t->spec, tmp, "");
  /* created with the placeholder's mode as it is (umask 0, set in main): the fchmod Node does after */
  int out = open(t->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, t->mode);
  if (out < 0) {
    free(t->tmp);
    t->tmp = NULL;
    close(in);
    return -1;
  }
  int ok = 1;
  for (off_t left = st.st_size; ok && left > 0;) {
    ssize_t n = copy_file_range(in, NULL, out, NULL, left, 0);
    if (n > 0) left -= n;
    else if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
      char buf[65536];
      ssize_t r = read(in, buf, sizeof buf);
      ok = r > 0 && write(out, buf, r) == r;
      left -= r > 0 ? r : 0;
    } else ok = 0;
  }
  ok = close(out) == 0 && ok;
  close(in);
  return ok ? 0 : -1;
}

int main(int argc, char **argv) {
  why_env = getenv("GG_MEMO_FAST_WHY");
  if (getenv("GG_MEMO_FAST") && strcmp(getenv("GG_MEMO_FAST"), "0") == 0) hand_over("GG_MEMO_FAST=0", NULL);
  double t0 = mono_s();
  pid = (int)getpid();
  /* ---- arguments: force-argv.ts's fast subset, and only what cannot change a memoized outcome ---- */
  if (argc < 3 || strcmp(argv[1], "force") != 0) hand_over("not `gg force TARGET...`", NULL);
  int status = 1, trace = 1, unisolated = 0;
  long jobs = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    if (!plain(a)) hand_over("an argument outside printable ASCII", NULL);
    if (a[0] != '-') {
      if (nT == MAX_TARGETS) hand_over("too many targets", NULL);
      T[nT++].spec = a;
      continue;
    }
    if (!strcmp(a, "-s") || !strcmp(a, "--no-status")) status = 0;
    else if (!strcmp(a, "--no-trace")) trace = 0;
    else if (!strncmp(a, "--sandbox", 9) && (a[9] == '=' || a[9] == '\0')) {
      v = a[9] ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v || (strcmp(v, "bwrap") && strcmp(v, "none"))) hand_over("a --sandbox for Node to judge", v);
      unisolated = !strcmp(v, "none");
    } else if (!strncmp(a, "--jobs", 6) || !strncmp(a, "-j", 2)) {
      if (!strcmp(a, "--jobs") || !strcmp(a, "-j")) v = i + 1 < argc ? argv[++i] : NULL;
      else if (!strncmp(a, "--jobs=", 7)) v = a + 7;
      else if (a[1] == 'j') v = a + 2;
      char *end;
      if (!v || v[0] < '1' || v[0] > '9' || strlen(v) > 5) hand_over("a --jobs for Node to judge", v);
      jobs = strtol(v, &end, 10);
      if (*end || jobs > 65536) hand_over("a --jobs for Node to judge", v);
    } else hand_over("an option for Node", a);
  }
  if (nT == 0) hand_over("no target", NULL);
  const char *uri = getenv("GG_STORAGE_URI"), *key = getenv("GG_MEMO_KEY_FILE");
  if ((uri && *uri) || (key && *key)) hand_over("a shared store or a memo key", NULL);
  if (jobs == 0) {
    cpu_set_t set;
    jobs = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
    if (jobs < 1) jobs = 1;
  }

  /* ---- the store (gg-dir.ts findGgDir) ---- */
  static char cwd[4096];
  if (!getcwd(cwd, sizeof cwd) || !plain(cwd) || cwd[strlen(cwd) - 1] == '/') hand_over("the working directory", NULL);
  char *ggdir;
  struct stat st;
  const char *env_dir = getenv("GG_DIR");
  if (env_dir && *env_dir) {
    if (env_dir[0] != '/' || stat(env_dir, &st) != 0 || !plain(env_dir)) hand_over("GG_DIR", env_dir);
    ggdir = (char *)env_dir;
  } else {
    char *dir = strdup(cwd);
    for (;;) {
      ggdir = joinpath(dir, strcmp(dir, "/") ? "/" : "", ".gg");
      if (stat(ggdir, &st) == 0 && S_ISDIR(st.st_mode)) break;
      char *slash = strrchr(dir, '/');
      if (slash == dir && dir[1] == '\0') hand_over("no .gg", NULL);
      slash == dir ? (void)(dir[1] = '\0') : (void)(*slash = '\0');
    }
  }
  char *gc_lock = joinpath(ggdir, "/gc.lock", "");
  if (access(gc_lock, F_OK) == 0 || errno != ENOENT) hand_over("gg gc may be running", NULL);

  /* ---- phase 1: read and check everything; nothing is written ---- */
  char buf[1025];
  for (int i = 0; i < nT; i++) {
    struct target *t = &T[i];
    const char *s = t->spec;
    /* force-command.ts absolute(): the plain join, and path.resolve's for leading "./" (`gg force ./prog`, what
       find prints); any other path it would normalize is Node's */
    while (!strncmp(s, "./", 2)) s += 2;
    size_t sl = strlen(s);
    if (sl == 0 || strstr(t->spec, "//") || s[sl - 1] == '/' || !strcmp(s, ".") || !strcmp(s, "..") ||
        !strncmp(s, "../", 3) || strstr(s, "/./") || strstr(s, "/../") || (sl >= 2 && !strcmp(s + sl - 2, "/.")) ||
        (sl >= 3 && !strcmp(s + sl - 3, "/..")))
      hand_over("a target path Node normalizes", t->spec);
    t->file = s[0] == '/' ? (char *)s : joinpath(cwd, "/", s);
    ssize_t n = read_small(s, buf, MAX_PLACEHOLDER, &st);
    if (n < 0 || st.st_nlink != 1) hand_over("not a placeholder alone in a regular file (a name, a link?)", s);
    buf[n] = '\0';
    const char *ref;
    if (!strncmp(buf, SHEBANG, sizeof SHEBANG - 1)) ref = buf + sizeof SHEBANG - 1;
    else if (!strncmp(buf, LINKER, sizeof LINKER - 1)) ref = buf + sizeof LINKER - 1;
    else hand_over("not a placeholder", s);
    const char *nl = strchr(ref, '\n');
    if (!nl || !valid_ref(ref, nl - ref) || (size_t)(nl - ref) >= sizeof t->ref) hand_over("an odd placeholder", s);
    memcpy(t->ref, ref, nl - ref);
    t->ref[nl - ref] = '\0';
    t->dev = st.st_dev;
    t->ino = st.st_ino;
    t->mode = st.st_mode & 07777;
    t->first = 1;
    for (int j = 0; j < i; j++) {
      if (T[j].dev == t->dev && T[j].ino == t->ino) hand_over("a target named twice", s);
      if (!strcmp(T[j].ref, t->ref)) t->first = 0;
    }
    /* its memo entry: exactly a value name (a thunk, a chain, a signature, anything else: Node) */
    char *memo = joinpath(ggdir, "/reductions/", t->ref);
    n = read_small(memo, buf, 128, NULL);
    free(memo);
    if (n > 0 && buf[n - 1] == '\n') n--;
    if (n <= 0 || buf[0] != 'V' || !valid_name(buf, n)) hand_over("no memo entry naming a value", t->ref);
    memcpy(t->value, buf, n);
    t->value[n] = '\0';
    char *blob = joinpath(ggdir, "/blobs/", t->value);
    struct stat bst;
    if (lstat(blob, &bst) != 0 || !S_ISREG(bst.st_mode) || (uint64_t)bst.st_size != name_size(t->value))
      hand_over("the value is not in the store as its name says", t->value);
    free(blob);
    stat_key(&bst, t->key, sizeof t->key);
  }
  check_hash_cache(ggdir);

  /* ---- phase 2: the trace, the copies, the renames; a signal waits until the store is consistent ---- */
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  long long start = now_ms();
  char *jobs_dir = joinpath(ggdir, "/jobs", ""), *trace_file = NULL;
  FILE *tf = NULL;
  if (trace) {
    mkdir(jobs_dir, 0777);
    prune_traces(jobs_dir, TRACES_KEPT - 1);
    time_t secs = start / 1000;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char id[80], base[64];
    snprintf(base, sizeof base, "%04d%02d%02d-%02d%02d%02d-%03d-%d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(start % 1000), pid);
    int fd = -1;
    for (int k = 0; fd < 0 && k < 1000; k++) {
      if (k) snprintf(id, sizeof id, "%s-%d", base, k);
      else snprintf(id, sizeof id, "%s", base);
      free(trace_file);
      trace_file = joinpath(jobs_dir, "/", id);
      trace_file = joinpath(trace_file, ".jsonl", "");
      fd = open(trace_file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (fd < 0 && errno != EEXIST) break;
    }
    char host[256];
    if (fd < 0 || gethostname(host, sizeof host) != 0 || !plain(host)) {
      if (fd >= 0) unlink(trace_file), close(fd);
      hand_over("the job trace", trace_file);
    }
    tf = fdopen(fd, "w");
    fprintf(tf, "{\"type\":\"job\",\"v\":1,\"id\":\"%s\",\"start\":%lld,\"pid\":%d,\"host\":", id, start, pid);
    json_str(tf, host);
    fputs(",\"cwd\":", tf);
    json_str(tf, cwd);
    fputs(",\"argv\":[", tf);
    for (int i = 1; i < argc; i++) fputs(i > 1 ? "," : "", tf), json_str(tf, argv[i]);
    fputs("],\"targets\":[", tf);
    for (int i = 0; i < nT; i++) {
      fputs(i ? ",{\"target\":" : "{\"target\":", tf);
      json_str(tf, T[i].spec);
      fputs(",\"file\":", tf);
      json_str(tf, T[i].file);
      fprintf(tf, ",\"ref\":\"%s\"}", T[i].ref);
    }
    fprintf(tf, "],\"jobs\":%ld,\"engine\":\"local\",\"store\":", jobs);
    char *store = joinpath("local ", ggdir, "");
    json_str(tf, store);
    fputs("}\n", tf);
    fflush(tf); /* the header goes out at once: gg gc reads it to know what a running job needs */
    /* a gc that took its lock before it could see the header: Node would wait for it */
    if (access(gc_lock, F_OK) == 0 || errno != ENOENT) {
      unlink(trace_file);
      hand_over("gg gc started", NULL);
    }
  }
  int cached = 0;
  for (int i = 0; i < nT; i++) {
    if (!T[i].first) continue;
    cached++;
    if (tf) fprintf(tf, "{\"t\":%lld,\"type\":\"cached\",\"ref\":\"%s\",\"how\":\"memo\"}\n", now_ms() - start, T[i].ref);
  }
  umask(0); /* after the trace and its directory, made as Node makes them */
  for (int i = 0; i < nT; i++) {
    if (copy_blob(&T[i], ggdir, (unsigned)i) != 0) {
      for (int j = 0; j <= i; j++)
        if (T[j].tmp) unlink(T[j].tmp);
      if (tf) unlink(trace_file);
      hand_over("a copy failed", strerror(errno));
    }
  }
  if (tf) {
    fprintf(tf, "{\"type\":\"end\",\"t\":%lld,\"status\":\"ok\",\"executed\":0,\"cached\":%d,\"failed\":0}\n",
            now_ms() - start, cached);
    fclose(tf);
  }
  int rc = 0;
  if (unisolated) fputs("gg: warning: --sandbox=none: thunks run unisolated on this host\n", stderr);
  for (int i = 0; i < nT; i++) {
    if (rename(T[i].tmp, T[i].spec) != 0) {
      /* as Node reports a failed placement (errors.ts fromSystemError) */
      fprintf(stderr, "error[GG_E_INTERNAL]: writing %s: %s\n", T[i].spec, strerror(errno));
      unlink(T[i].tmp);
      rc = 1;
    }
  }
  if (status && rc == 0)
    fprintf(stderr, "gg: [%d/%d] executed 0, cached %d, failed 0 in %.2f s\n", cached, cached, cached, mono_s() - t0);
  fflush(stderr);
  sigprocmask(SIG_SETMASK, &old, NULL);
  return rc;
}
