#!/usr/bin/env bash
# Build the wasmjobs Python guest: CPython 3.13 for wasm32-wasip1, from the
# pristine upstream tarball that Debian's python3.13 source package carries,
# with zlib, bzip2, xz (liblzma) and sqlite3 built for wasm32 from Debian
# sources, linked with our entry point (wasmjobs_python.c) as a reactor
# module that wasmjobs pre-initialises (snapshots) on first use.
#
#   guests/python/build.sh            build (or reuse) the guest
#
# Output, cached outside the clone and keyed by the hash of every input
# (this script, the entry point, config.site, the tarballs' hashes, the
# compiler's version):
#   $WASMJOBS_CACHE_DIR/guests/python/<key>/python.wasm
#   $WASMJOBS_CACHE_DIR/guests/python/<key>/lib/python3.13/   (the stdlib)
#   $WASMJOBS_CACHE_DIR/guests/python/current -> <key>
# Needs Debian's clang-19 lld-19 llvm-19 wasi-libc libclang-rt-19-dev-wasm32
# build-essential tcl (scripts/setup.sh installs them) and fetches the
# source packages with `apt-get source` (adding a deb-src entry for the
# time of the download; root or sudo). Every tarball's SHA-256 is checked.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE_ROOT="${WASMJOBS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmjobs}"
JOBS="${JOBS:-$(nproc)}"
PYVER=3.13.5

# name  sha256  (the pristine upstream tarballs inside Debian's source packages)
TARBALLS="
python3.13_3.13.5.orig.tar.xz 93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640
sqlite3_3.46.1.orig.tar.xz d0cdd2ece271b29e7ce18095745d892517ee26d0f270065b3a25c2e9eb11639c
zlib_1.2.13.dfsg.orig.tar.bz2 71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1
bzip2_1.0.8.orig.tar.gz ab5a03176ee106d3f0fa90e381da478ddae405918153cca248e682cd0c4a2269
xz-utils_5.4.1.orig.tar.xz 5d9827aa1875b21c288f78864bb26d2650b436ea8d2cad364e4921eb6266a5a5
"
SOURCE_PACKAGES="python3.13/trixie sqlite3/trixie zlib/bookworm bzip2/bookworm xz-utils/bookworm"

missing=()
for t in clang-19 wasm-ld-19 llvm-ar-19 llvm-ranlib-19 llvm-strip-19 tclsh make cc; do
  command -v "$t" >/dev/null || missing+=("$t")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "guests/python/build.sh: missing tools: ${missing[*]} (run scripts/setup.sh)" >&2
  exit 1
fi

key="$( { cat "$HERE/build.sh" "$HERE/wasmjobs_python.c" "$HERE/config.site-wasm32-wasi"; echo "$TARBALLS"; clang-19 --version | head -1; } | sha256sum | cut -c1-16)"
OUT="$CACHE_ROOT/guests/python/$key"
if [ -f "$OUT/python.wasm" ] && [ -d "$OUT/lib/python3.13" ]; then
  ln -sfn "$key" "$CACHE_ROOT/guests/python/current"
  echo "$OUT"
  exit 0
fi

SOURCES="$CACHE_ROOT/sources"
# Intermediate builds are keyed by the sources and compiler only; each stage
# also records the hash of its own definition and reruns when that changes.
basekey="$( { echo "$TARBALLS"; cat "$HERE/config.site-wasm32-wasi"; clang-19 --version | head -1; } | sha256sum | cut -c1-16)"
W="$CACHE_ROOT/build/python-$basekey"
SRC="$W/src/Python-$PYVER"
S="$W/sysroot"
P="$W/deps"
WCC="clang-19 --target=wasm32-wasi --sysroot=$S"
mkdir -p "$SOURCES" "$W" "$CACHE_ROOT/guests/python"
log() { echo "[python guest $(date -u +%T)] $*" >&2; }

verify() {  # all tarballs present with the pinned hashes?
  local ok=0
  while read -r name sum; do
    [ -n "$name" ] || continue
    if [ ! -f "$SOURCES/$name" ] || ! echo "$sum  $SOURCES/$name" | sha256sum -c --quiet - >/dev/null 2>&1; then ok=1; fi
  done <<< "$TARBALLS"
  return $ok
}

fetch_sources() {
  verify && return 0
  log "fetching Debian source packages: $SOURCE_PACKAGES"
  local SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  local list=/etc/apt/sources.list.d/zz-wasmjobs-deb-src.sources
  local mirror
  mirror="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
  printf 'Types: deb-src\nURIs: %s\nSuites: bookworm trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" \
    | $SUDO tee "$list" >/dev/null
  # Never leave the entry behind, even when interrupted.
  trap "$SUDO rm -f $list" EXIT
  local rc=0
  $SUDO apt-get update -qq || rc=$?
  if [ $rc -eq 0 ]; then
    (cd "$SOURCES" && apt-get source --download-only $SOURCE_PACKAGES >"$W/apt-source.log" 2>&1) || rc=$?
  fi
  # The deb-src entry exists only for the download.
  $SUDO rm -f "$list"
  trap - EXIT
  $SUDO apt-get update -qq || true
  if [ $rc -ne 0 ]; then
    echo "guests/python/build.sh: apt-get could not download the source packages ($SOURCE_PACKAGES):" >&2
    tail -5 "$W/apt-source.log" >&2 || true
    exit 1
  fi
  while read -r name sum; do
    [ -n "$name" ] || continue
    echo "$sum  $SOURCES/$name" | sha256sum -c --quiet - || { echo "guests/python/build.sh: $name does not have the pinned SHA-256" >&2; exit 1; }
  done <<< "$TARBALLS"
}

unpack() {
  rm -rf "$W/src" && mkdir -p "$W/src" "$S/include" "$S/lib"
  tar -xf "$SOURCES/python3.13_$PYVER.orig.tar.xz" -C "$W/src"
  # The sysroot layout clang-19 expects ($S/include/<triple>, $S/lib/<triple>)
  # over Debian's wasi-libc, without pulling in the host's glibc headers.
  for t in wasm32-wasi wasm32-wasip1; do
    ln -sfn /usr/include/wasm32-wasi "$S/include/$t"; ln -sfn /usr/lib/wasm32-wasi "$S/lib/$t"
  done
}

native() {  # the build Python (same version, native) a cross build needs
  log "native build Python"
  mkdir -p "$W/native" && cd "$W/native"
  "$SRC/configure" --prefix="$W/native-install" >configure.log 2>&1 || { tail -20 configure.log >&2; exit 1; }
  make -j"$JOBS" all >make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
}

deps() {
  log "zlib, bzip2, sqlite3, liblzma for wasm32"
  rm -rf "$P" && mkdir -p "$P/include" "$P/lib" "$W/deps-src" && cd "$W/deps-src"
  rm -rf ./*
  tar -xf "$SOURCES/zlib_1.2.13.dfsg.orig.tar.bz2"
  (cd zlib-1.2.13.dfsg
   for f in adler32 compress crc32 deflate gzclose gzlib gzread gzwrite infback inffast inflate inftrees trees uncompr zutil; do
     $WCC -w -O2 -D_LARGEFILE64_SOURCE=1 -DHAVE_HIDDEN -c $f.c -o $f.o
   done
   llvm-ar-19 rcs "$P/lib/libz.a" ./*.o && cp zlib.h zconf.h "$P/include/")
  tar -xzf "$SOURCES/bzip2_1.0.8.orig.tar.gz"
  (cd bzip2-1.0.8
   for f in blocksort huffman crctable randtable compress decompress bzlib; do
     $WCC -w -O2 -D_FILE_OFFSET_BITS=64 -c $f.c -o $f.o
   done
   llvm-ar-19 rcs "$P/lib/libbz2.a" blocksort.o huffman.o crctable.o randtable.o compress.o decompress.o bzlib.o
   cp bzlib.h "$P/include/")
  tar -xf "$SOURCES/sqlite3_3.46.1.orig.tar.xz"
  mkdir sqlite-amal
  (cd sqlite-amal
   # the amalgamation is generated natively (tclsh), then cross-compiled
   ../sqlite3-3.46.1/configure >cfg.log 2>&1 && make sqlite3.c >mk.log 2>&1
   $WCC -w -O2 -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_WAL \
     -DSQLITE_OMIT_SHARED_CACHE -DSQLITE_OMIT_RANDOMNESS -D_WASI_EMULATED_GETPID \
     -D_WASI_EMULATED_MMAN -D_WASI_EMULATED_PROCESS_CLOCKS -DSQLITE_ENABLE_FTS5 \
     -DSQLITE_ENABLE_JSON1 -DSQLITE_ENABLE_MATH_FUNCTIONS -c sqlite3.c -o sqlite3.o
   llvm-ar-19 rcs "$P/lib/libsqlite3.a" sqlite3.o && cp sqlite3.h sqlite3ext.h "$P/include/")
  tar -xf "$SOURCES/xz-utils_5.4.1.orig.tar.xz"
  # wasi-libc 2022 has no sigprocmask; liblzma never needs it single-threaded
  sed -i 's|^#if !(defined(_WIN32) \&\& !defined(__CYGWIN__))$|& \&\& !defined(__wasi__)|' xz-5.4.1/src/common/mythread.h
  grep -q '!defined(__wasi__)' xz-5.4.1/src/common/mythread.h
  mkdir xz-build
  (cd xz-build
   CC="$WCC" AR=llvm-ar-19 RANLIB=llvm-ranlib-19 CFLAGS="-O2 -w -D_WASI_EMULATED_SIGNAL" \
   ../xz-5.4.1/configure --host=wasm32-unknown-wasi --build=x86_64-pc-linux-gnu --prefix="$P" \
     --disable-shared --enable-static --disable-threads --disable-xz --disable-xzdec --disable-lzmadec \
     --disable-lzmainfo --disable-lzma-links --disable-scripts --disable-doc --disable-nls >cfg.log 2>&1
   make -C src/liblzma >mk.log 2>&1 && make -C src/liblzma install >inst.log 2>&1)
}

wasm() {
  log "CPython for wasm32-wasip1"
  rm -rf "$W/wasi" && mkdir -p "$W/wasi" && cd "$W/wasi"
  CPYTHON_SRC="$SRC" CONFIG_SITE="$HERE/config.site-wasm32-wasi" \
  CC="$WCC" CPP="$WCC -E" CXX="clang++-19 --target=wasm32-wasi --sysroot=$S" \
  AR=llvm-ar-19 RANLIB=llvm-ranlib-19 READELF=llvm-readelf-19 PKG_CONFIG=/bin/false \
  ZLIB_CFLAGS="-I$P/include" ZLIB_LIBS="-L$P/lib -lz" \
  LIBSQLITE3_CFLAGS="-I$P/include" LIBSQLITE3_LIBS="-L$P/lib -lsqlite3 -lwasi-emulated-mman" \
  BZIP2_CFLAGS="-I$P/include" BZIP2_LIBS="-L$P/lib -lbz2" \
  LIBLZMA_CFLAGS="-I$P/include" LIBLZMA_LIBS="-L$P/lib -llzma" \
  HOSTRUNNER=false \
  "$SRC/configure" --host=wasm32-wasip1 --build=x86_64-pc-linux-gnu \
    --with-build-python="$W/native/python" >configure.log 2>&1 || { tail -20 configure.log >&2; exit 1; }
  make -j"$JOBS" all >make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
}

link() {
  log "linking the wasmjobs entry point"
  cd "$W/wasi"
  $WCC -O2 -I. -I"$SRC/Include" -I"$SRC/Include/internal" -c "$HERE/wasmjobs_python.c" -o wasmjobs_python.o
  # CPython's own link line for python.wasm, with our entry point instead of
  # Programs/python.o, as a reactor (no _start; wasmjobs calls its exports).
  rm -f python.wasm
  cmd="$(make -n python.wasm | grep -E -- '-o python.wasm' | tail -1)"
  [ -n "$cmd" ] || { echo "guests/python/build.sh: cannot find CPython's link line" >&2; exit 1; }
  cmd="${cmd//Programs\/python.o/wasmjobs_python.o}"
  cmd="${cmd//-o python.wasm/-o wasmjobs-python.wasm -mexec-model=reactor}"
  eval "$cmd"
}

layout() {
  log "layout"
  local tmp="$OUT.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp/lib"
  llvm-strip-19 --strip-debug -o "$tmp/python.wasm" "$W/wasi/wasmjobs-python.wasm"
  cp -r "$SRC/Lib" "$tmp/lib/python3.13"
  find "$tmp/lib/python3.13" -name __pycache__ -prune -exec rm -rf {} +
  rm -rf "$tmp/lib/python3.13/"{test,idlelib,turtledemo,tkinter,ensurepip,lib2to3}
  cp "$W/wasi/build/lib.wasi-wasm32-3.13/"*.py "$tmp/lib/python3.13/"
  mkdir -p "$tmp/lib/python3.13/lib-dynload"
  # .pyc files are platform-independent: compile them with the build Python
  "$W/native/python" -m compileall -q -j0 "$tmp/lib/python3.13" >/dev/null
  # The same-version native interpreter, for benchmarks against the guest.
  echo "$W/native/python" > "$tmp/native-python.txt"
  chmod -R a-w "$tmp/lib"
  rm -rf "$OUT" && mv "$tmp" "$OUT"
  ln -sfn "$key" "$CACHE_ROOT/guests/python/current"
}

# Runs a build stage unless it already ran with this very definition (and
# every stage before it did too).
chain=""
stage() {
  chain="$chain$(declare -f "$1" | sha256sum | cut -c1-16)"
  if [ "$(cat "$W/.stage-$1" 2>/dev/null)" = "$chain" ]; then
    return 0
  fi
  "$1"
  echo "$chain" > "$W/.stage-$1"
}
# One build at a time per cache (parallel builds would share $W).
exec 9>"$CACHE_ROOT/build/python.lock"
flock 9
if [ -f "$OUT/python.wasm" ]; then  # another build made it meanwhile
  ln -sfn "$key" "$CACHE_ROOT/guests/python/current"
  echo "$OUT"
  exit 0
fi
fetch_sources
for s in unpack native deps wasm; do stage "$s"; done
# Reached only when this exact guest is not in the cache yet: the entry
# point (whose source is in the key, not in the stage hashes) is always
# compiled and linked anew.
link
layout
echo "$OUT"
