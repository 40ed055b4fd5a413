#!/usr/bin/env bash
# run.sh - persona k-means vs scikit-learn on planted-cluster float32
# matrices, in the same run on the same data (results: bench/RESULTS-segment.md).
#
#   bench/kmeans/run.sh [DATA_DIR] [SEEDS] [THREADS]
#
# Builds bench_kmeans against build/libpersona.a (run `make` first), writes
# the matrices once (gen_data.py), then for each size runs persona (hamerly
# = the default algorithm, and lloyd) and sklearn KMeans (lloyd, its
# default) with the same k, n_init, max_iter and tol, once per seed, and
# persona's streamed minibatch against MiniBatchKMeans.  Prints one line
# per run (tool algorithm wall_s cpu_s inertia n_iter rss_mb) and a
# median summary.  Both sides get the same number of threads.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-/tmp/persona-bench-kmeans}
SEEDS=${2:-"0 1 2"}
THREADS=${3:-2}
PY=/usr/bin/python3
mkdir -p "$DATA"
BIN="$DATA/bench_kmeans"
cc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -I/usr/include/x86_64-linux-gnu/openblas-pthread \
   bench/kmeans/bench_kmeans.c build/libpersona.a \
   $(pkg-config --libs jansson libutf8proc sqlite3 libsodium libmicrohttpd 2>/dev/null) \
   $(ls /usr/lib/x86_64-linux-gnu/libfriso* >/dev/null 2>&1 && echo -lfriso) \
   -L/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas -lpthread -lm -o "$BIN"
[ -f "$DATA/a.npy" ] || $PY bench/kmeans/gen_data.py "$DATA/a.npy" 1000000 16 8 1
[ -f "$DATA/b.npy" ] || $PY bench/kmeans/gen_data.py "$DATA/b.npy" 200000 64 20 2
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=1
LOG="$DATA/log.txt"
: > "$LOG"
run() { echo "$1 $("${@:2}")" | tee -a "$LOG"; }
MAXIT=300 TOL=1e-4 NINIT=3
for ds in "a 8" "b 20"; do
  set -- $ds; name=$1 k=$2
  for s in $SEEDS; do
    run "$name seed=$s" "$BIN" "$DATA/$name.npy" "$k" $NINIT $MAXIT $TOL "$s" hamerly 1024 "$THREADS"
    run "$name seed=$s" $PY bench/kmeans/sklearn_kmeans.py "$DATA/$name.npy" "$k" $NINIT $MAXIT $TOL "$s" lloyd
  done
  run "$name seed=0" "$BIN" "$DATA/$name.npy" "$k" $NINIT $MAXIT $TOL 0 lloyd 1024 "$THREADS"
done
# mini-batch: 1M x 16, k=8, batch 1024, n_init 3, max 100 epochs, sklearn's early stopping
for s in $SEEDS; do
  run "a seed=$s" "$BIN" "$DATA/a.npy" 8 3 100 0 "$s" minibatch 1024 "$THREADS"
done
run "a seed=0" $PY bench/kmeans/sklearn_kmeans.py "$DATA/a.npy" 8 3 100 0 0 minibatch 1024
echo "== medians (dataset tool algorithm: wall_s cpu_s inertia rss_mb, runs)"
awk '{ key=$1" "$3" "$4; n[key]++; w[key,n[key]]=$5; c[key,n[key]]=$6; i[key,n[key]]=$7; r[key,n[key]]=$9 }
     function med(a, key, m,   v, j, t, x, y) { for (j=1;j<=m;j++) v[j]=a[key,j];
       for (x=1;x<=m;x++) for (y=x+1;y<=m;y++) if (v[y]<v[x]) {t=v[x];v[x]=v[y];v[y]=t}
       return (m%2) ? v[(m+1)/2] : (v[m/2]+v[m/2+1])/2 }
     END { for (key in n) printf "%s: %.2f %.2f %.10g %d (%d)\n", key, med(w,key,n[key]), med(c,key,n[key]), med(i,key,n[key]), med(r,key,n[key]), n[key] }' "$LOG" | sort
