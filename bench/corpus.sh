#!/usr/bin/env bash
# bench/corpus.sh [PROJECT...]: build real projects from Debian sources (../shared/tools/get-source) through
# plain `make -j2` (or ninja) and through `gg infer` + `gg force -j2` in the bubblewrap jail, from one run,
# interleaved per project (plain, gg cold, gg warm back to back), and print one markdown table:
#   builds?  same files?  objects, archives, libraries and programs equal after `strip --strip-debug` (and
#   without the build-id note, a hash that covers the debug info)?  warnings equal?  the project's own quick
#   tests pass (on the gg build)?  gg cold and warm time as a ratio of the plain build.
# "plain" and "gg cold" include the project's configure step (configure, cmake, meson), run under gg infer
# for gg; "gg warm" is the project's clean target, then the build again under gg infer with the memo of the
# cold run (what a user's rebuild after `make clean` does). Any placeholder a step leaves (not objects) is
# then forced with `gg force`, in the time; finding those placeholders (a search of the whole tree that a
# user never runs) is not.
# Next to wall time, the CPU time (user + system) of each step's processes: other work on a shared machine
# inflates it less than wall time, so its ratios say more there.
# Logs of every step are kept in $GG_CORPUS_LOGS (default: a folder printed at the end); GG_KEEP_CORPUS=1
# keeps the build trees too.
# GG_BENCH_SANDBOX=none runs thunks unisolated (default bwrap). Work happens under $TMPDIR (default /var/tmp).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$here/bench/lib.sh"
sandbox=${GG_BENCH_SANDBOX:-bwrap}
# GG_CORPUS_FORCE=0: the build's `gg infer` only writes thunks, and `gg force` builds (two steps, two Node
# start-ups); by default `gg infer --force` builds in the same process (compiles forced while the build runs).
force=--force
[[ ${GG_CORPUS_FORCE:-1} == 1 ]] || force=""
getsrc=${GET_SOURCE:-$here/../shared/tools/get-source}
ALL=(lua git zlib zstd duktape cjson fmtlib fribidi bc jansson lz4)
# tried beyond the corpus, as a new user would: run by name only
BY_NAME=(json-c brotli libyaml lzo2 libffi nettle libogg bzip2)
projects=("$@")
((${#projects[@]})) || projects=("${ALL[@]}")
work=$(mktemp -d "${TMPDIR:-/var/tmp}/gg-corpus-XXXXXX")
logs=${GG_CORPUS_LOGS:-$work.logs}
mkdir -p "$logs"
[[ ${GG_KEEP_CORPUS:-} == 1 ]] || trap 'rm -rf "$work"' EXIT
# GG_CORPUS_BASE=CHECKOUT (built, with node_modules): each project is also built by that checkout's gg, right
# before this one's, in a row of its own ("PROJECT (base)"): a before/after from one run.
gg_variants "$work" "${GG_CORPUS_BASE:-}"
outer_path=$PATH
export GG_SANDBOX=$sandbox
unset GG_DIR

# Per project: Debian source package, configure (run once, in the copy), build, clean, the directory the
# build writes to (relative), and a quick test of the result (run in the copy after the build).
define() {
  conf='' bdir=.
  case $1 in
    lua) pkg=lua5.4 build='make -j2 posix' clean='make clean'
         check='src/lua -e "assert(string.rep(\"ab\",3)==\"ababab\"); print(math.sin(1))" && src/luac -v';;
    git) pkg=git flags='NO_CURL=1 NO_GETTEXT=1 NO_TCLTK=1 NO_PERL=1 NO_PYTHON=1'
         build="make -j2 $flags" clean="make clean $flags"
         check='./git --version && cd t && bash t0000-basic.sh >/dev/null && bash t0001-init.sh >/dev/null';;
    zlib) pkg=zlib conf='./configure' build='make -j2' clean='make clean' check='make test';;
    zstd) pkg=libzstd build='make -j2 -C programs zstd' clean='make -C programs clean'
          check='seq 100000 > in && programs/zstd -q -f in -o in.zst && programs/zstd -q -d -f in.zst -o out && cmp in out && ldd programs/zstd >/dev/null';;
    duktape) pkg=duktape build='make -j2 -f Makefile.sharedlibrary && make -j2 -f Makefile.cmdline'
             clean='rm -f duk libduktape*.so* duktape.pc' check='./duk -e "print([1,2,3].map(function(x){return x*x}).join())" | grep -q 1,4,9';;
    cjson) pkg=cjson conf='mkdir -p build && cd build && cmake -G Ninja -DENABLE_CJSON_TEST=On ..' bdir=build
           build='ninja -C build' clean='ninja -C build clean' check='cd build && ctest -Q';;
    fmtlib) pkg=fmtlib conf='mkdir -p build && cd build && cmake -G Ninja -DFMT_TEST=OFF -DFMT_DOC=OFF -DBUILD_SHARED_LIBS=ON ..' bdir=build
            build='ninja -C build' clean='ninja -C build clean'
            check='printf "#include <fmt/format.h>\n#include <fmt/ranges.h>\n#include <vector>\nint main(){fmt::print(\"{}\\\\n\", std::vector<int>{1,2});}\n" > t.cc && g++ -Iinclude t.cc -Lbuild -lfmt -o t && LD_LIBRARY_PATH=build ./t | grep -qF "[1, 2]"';;
    fribidi) pkg=fribidi conf='meson setup build -Ddocs=false >/dev/null' bdir=build
             build='ninja -C build' clean='ninja -C build clean' check='meson test -C build -q';;
    bc) pkg=bc conf='./configure -q' build='make -j2 MAKEINFO=true' clean='make clean'
        check='test "$(echo "2^100" | bc/bc)" = 1267650600228229401496703205376 && echo "s(1)" | bc/bc -l | grep -q ^.841';;
    lz4) pkg=lz4 build='make -j2' clean='make clean'
         check='echo corpus | programs/lz4 -q | programs/lz4 -dq | grep -qx corpus';;
    jansson) pkg=jansson conf='mkdir -p build && cd build && cmake -G Ninja -DJANSSON_BUILD_DOCS=OFF -DJANSSON_BUILD_SHARED_LIBS=ON ..' bdir=build
             build='ninja -C build' clean='ninja -C build clean' check='cd build && ctest -Q';;
    # Beyond the corpus (not in ALL: run them by name): projects tried as a new user would, after it.
    json-c) pkg=json-c conf='mkdir -p build && cd build && cmake -G Ninja .. >/dev/null' bdir=build
            build='ninja -C build' clean='ninja -C build clean' check='cd build && ctest -Q';;
    brotli) pkg=brotli conf='mkdir -p build && cd build && cmake -G Ninja .. >/dev/null' bdir=build
            build='ninja -C build' clean='ninja -C build clean'
            check='echo corpus | build/brotli -c | build/brotli -dc | grep -qx corpus';;
    libyaml) pkg=libyaml conf='mkdir -p build && cd build && cmake -G Ninja -DBUILD_TESTING=ON .. >/dev/null' bdir=build
             build='ninja -C build' clean='ninja -C build clean' check='cd build && ctest -Q';;
    lzo2) pkg=lzo2 conf='./configure -q' build='make -j2' clean='make clean'
          check='examples/simple | grep -q "Simple compression test passed"';;
    # assembly from .S files (with libtool), and a version script handed over as -Wl,--version-script -Wl,FILE
    libffi) pkg=libffi conf='./configure -q' build='make -j2' clean='make clean'
            check='d=$(dirname */fficonfig.h); for t in float va_1 struct1 many; do gcc -I$d/include -I$d -Itestsuite/libffi.call testsuite/libffi.call/$t.c -L$d/.libs -lffi -o t-$t && LD_LIBRARY_PATH=$d/.libs ./t-$t >/dev/null || exit 1; done';;
    # .s files made by m4 (compiled with -MD), tables made by programs the build links and runs
    nettle) pkg=nettle conf='./configure -q' build='make -j2' clean='make clean'
            check='echo abc | LD_LIBRARY_PATH=.lib tools/nettle-hash -a sha256 | tr -d " " | grep -q ^edeaaff3f1774ad2888673770c6d64097e391bc362d7d6fb34982ddf0efd18cb';;
    # test programs linked with -ffast-math (crtfastmath.o)
    libogg) pkg=libogg conf='./configure -q' build='make -j2' clean='make clean' check='make check';;
    # two makefiles: a shared library of -fpic objects, then the static one and the programs
    bzip2) pkg=bzip2 build='make -j2 -f Makefile-libbz2_so && make clean && make -j2' clean='make clean'
           check='make test';;
    *) echo "corpus: unknown project $1 (known: ${ALL[*]} ${BY_NAME[*]})" >&2; return 1;;
  esac
}

# The sorted list of files and links a build left (without gg's own .gg, and without the test's files).
files_of() { (cd "$1" && find . -path ./.gg -prune -o \( -type f -o -type l \) -print | sort); }
# Compiler diagnostics (lines with warning:/error:), sorted.
diags() { grep -hE '(warning|error): ' "$@" 2>/dev/null | grep -v '^gg' | sort; }

# strip writes its output by renaming a temporary file: it cannot write to a pipe. The build-id note goes
# too: it is a hash over the whole file, debug info included, so it differs whenever debug info does.
stripped_md5() { strip --strip-debug --remove-section=.note.gnu.build-id -o "$work/stripped" "$1" 2>/dev/null && md5sum < "$work/stripped"; rm -f "$work/stripped"; }

# objects_equal PLAIN GG: "equal/total" ELF files (objects, archives, libraries, programs) of the plain
# build that are equal in the gg build after strip --strip-debug; differing ones are listed in $2.objdiff.
objects_equal() {
  local a=$1 b=$2 n=0 eq=0 f x y
  : > "$b.objdiff"
  while IFS= read -r -d '' f; do
    [[ $(head -c4 "$a/$f" | od -An -c | tr -d ' ') == 177ELF || $f == *.a ]] || continue
    n=$((n + 1))
    x=$(stripped_md5 "$a/$f") y=$(stripped_md5 "$b/$f")
    if [[ $x == "$y" ]]; then eq=$((eq + 1)); else echo "$f" >> "$b.objdiff"; fi
  done < <(cd "$a" && find . -path ./.gg -prune -o -type f -print0)
  echo "$eq/$n"
}

# One gg variant on project $p (plain tree in $P): cold build, warm rebuild, checks, one table row ($row; logs $L.*).
gg_variant() {
  rm -rf "$G"; cp -a "$src" "$G"
  # gg cold
  cpu c0 "$work/times"; t0=$(now)
  (cd "$G" && gg init >/dev/null && { [[ -z $conf ]] || gg infer bash -c "$conf"; } && gg infer $force bash -c "$build") > "$logs/$L.gg-infer.log" 2>&1; infer_rc=$?
  t1=$(now); cpu c1 "$work/times"
  force_tree "$G" "$sandbox" > "$logs/$L.gg-force.log" 2>&1; force_rc=$?
  cold=$(sum_secs "$t0" "$t1" "$FORCE_SECS"); cold_cpu=$(sum_secs "$c0" "$c1" "$FORCE_CPU")
  # commands run for real, and those of them that were not configure/CMake/Meson probes, queries or -E
  fellback=$(grep -oE '[0-9]+ commands? ran for real' "$logs/$L.gg-infer.log" | awk '{s+=$1} END{print s+0}')
  notprobe=$(grep -E '^ +[0-9]+  ' "$logs/$L.gg-infer.log" | grep -vE 'probe|query|\(-E\)|-M/-MM|no input files' | awk '{s+=$1} END{print s+0}')
  # gg warm: clean, infer again, force (all memoized)
  (cd "$G" && bash -c "$clean") > /dev/null 2>&1
  cpu c0 "$work/times"; t0=$(now)
  (cd "$G" && gg infer $force bash -c "$build") > "$logs/$L.gg-warm.log" 2>&1; warm_rc=$?
  t1=$(now); cpu c1 "$work/times"
  FORCE_SECS=0 FORCE_CPU=0
  ((warm_rc != 0)) || { force_tree "$G" "$sandbox" >> "$logs/$L.gg-warm.log" 2>&1; warm_rc=$?; }
  warm=$(sum_secs "$t0" "$t1" "$FORCE_SECS"); warm_cpu=$(sum_secs "$c0" "$c1" "$FORCE_CPU")
  # objects too (untimed): they are memo hits by now
  force_tree "$G" "$sandbox" all >> "$logs/$L.gg-warm.log" 2>&1
  builds=no; ((plain_rc == 0 && infer_rc == 0 && force_rc == 0 && warm_rc == 0)) && builds=yes
  ((plain_rc == 0)) || builds="plain build failed"
  files_of "$P" > "$logs/$p.plain.files"; files_of "$G" > "$logs/$L.gg.files"
  nd=$(diff "$logs/$p.plain.files" "$logs/$L.gg.files" | grep -c '^[<>]')
  same=yes; ((nd == 0)) || same="no ($nd differ)"
  objs=$(objects_equal "$P" "$G"); mv "$G.objdiff" "$logs/$L.objdiff"
  diags "$logs/$p.plain.log" > "$logs/$p.plain.diags"; diags "$logs/$L.gg-infer.log" "$logs/$L.gg-force.log" > "$logs/$L.gg.diags"
  wd=$(diff "$logs/$p.plain.diags" "$logs/$L.gg.diags" | grep -c '^[<>]')
  warns="yes ($(wc -l < "$logs/$p.plain.diags"))"; ((wd == 0)) || warns="no ($wd lines differ)"
  tests=no; (cd "$G" && bash -c "$check") > "$logs/$L.check.log" 2>&1 && tests=yes
  printf '| %s | %s | %s | %s | %s | %s | %s | %s (%s) | %s (%s) | %s | %s (%s) | %s (%s) | %s (%s) |\n' "$row" "$builds" "$same" "$objs" "$warns" "$tests" \
    "$plain" "$cold" "$(ratio "$cold" "$plain")" "$warm" "$(ratio "$warm" "$plain")" \
    "$plain_cpu" "$cold_cpu" "$(ratio "$cold_cpu" "$plain_cpu")" "$warm_cpu" "$(ratio "$warm_cpu" "$plain_cpu")" "$fellback" "$notprobe"
}

printf '| project | builds | same files | objects equal (strip -g) | warnings equal | quick tests | plain s | gg cold s (x plain) | gg warm s (x plain) | plain CPU s | gg cold CPU s (x) | gg warm CPU s (x) | ran for real (not probes) |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|---|\n'
for p in "${projects[@]}"; do
  define "$p" || continue
  src=$($getsrc "$pkg" 2>>"$logs/$p.get") || { echo "| $p | source not available | | | | | | | | |"; continue; }
  echo "corpus: $p from $src (sandbox=$sandbox, $(nproc) cpus, load $(cut -d' ' -f1 /proc/loadavg))" >&2
  # Both builds run at the same path (the plain tree is moved aside after its build): CMake names sources by
  # absolute path, and __FILE__ and the diagnostics carry it.
  P=$work/plain/$p G=$work/tree/$p
  rm -rf "$P" "$G"; mkdir -p "$work/plain" "$work/tree"
  cp -a "$src" "$G"
  # plain
  cpu c0 "$work/times"; t0=$(now)
  (cd "$G" && { [[ -z $conf ]] || bash -c "$conf"; } && bash -c "$build") > "$logs/$p.plain.log" 2>&1; plain_rc=$?
  t1=$(now); plain=$(secs "$t0" "$t1"); cpu c1 "$work/times"; plain_cpu=$(secs "$c0" "$c1")
  mv "$G" "$P"
  for v in "${variants[@]}"; do
    PATH=$work/$v/bin:$outer_path
    if [[ $v == base ]]; then row="$p (base)" L=$p.base; else row=$p L=$p; fi
    gg_variant
  done
  [[ ${GG_KEEP_CORPUS:-} == 1 ]] || rm -rf "$P" "$G"
done
echo "corpus: logs in $logs; $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg), sandbox=$sandbox" >&2
