# bigbatch simulate: the paper's configuration (hd across servers beats ring
# at 32 servers), calibration from a bench allreduce table, the one-host mode
# from a run directory, a bench train profile, CSV output and clear refusals.
. "$(dirname "$0")/lib.sh"
paper=(--fwd-ms 60 --bwd-ms 120 --servers 1,32 --bucket-kb 0 --inter-latency-us 50)
out=$("$BB" simulate "${paper[@]}" --csv "$TMP/paper.csv")
row() { echo "$out" | awk -F'|' -v s="$1" -v a="$2" '$2 + 0 == s && $4 ~ "^ " a "( \\*)? $" {print $7 + 0}'; }
[ -n "$(row 32 hier-hd)" ] || fail "no 32-server hier-hd row: $out"
awk -v r="$(row 32 hier-ring)" -v h="$(row 32 hier-hd)" 'BEGIN {exit !(h > r + 10)}' \
    || fail "hd across 32 servers should beat ring clearly: $(row 32 hier-hd)% vs $(row 32 hier-ring)%"
[[ "$out" == *"25.56M parameters"* && "$out" == *"108 buckets (one per layer)"* ]] || fail "header: $out"
[ "$(wc -l < "$TMP/paper.csv")" = 9 ] || fail "csv: $(cat "$TMP/paper.csv")"
head -1 "$TMP/paper.csv" | grep -q '^mode,servers,workers_per_server,ranks,threads,algorithm,t_iter_ms' || fail "csv header"

# calibration: alpha and beta from the table (loopback: tens of us, about 0.5 GB/s)
cal=$("$BB" simulate --model resnet20 --input 1x28x28 --classes 10 --fwd-ms 10 --bwd-ms 20 \
      --calibrate tests/fixtures/bench_allreduce_p2.md --reduce-gbs 6 --servers 1,2)
line=$(echo "$cal" | grep '^| all (used)') || fail "no fit line: $cal"
echo "$line" | awk -F'|' '{exit !($5 > 5 && $5 < 100 && $7 > 0.2 && $7 < 2)}' || fail "implausible fit: $line"

# one host: a made-up single-rank run of 4 workers on 2 threads (2 per executor)
run="$TMP/run"; mkdir -p "$run"
echo '{"workers": 4, "threads": 2, "ranks": 1}' > "$run/config.json"
{ echo "step,epoch,loss,err,lr,grad_norm,img_s,t_data,t_fwd,t_bwd,t_reduce,t_update,t_step,b_noise,t_allreduce"
  for i in 0 1 2 3; do echo "$i,0,1,1,0.1,1,1,0,0.2,0.4,0,0.01,0.63,0,0"; done; } > "$run/iters.csv"
host=$("$BB" simulate --model resnet20 --input 1x28x28 --classes 10 --run "$run" --host-cores 2 --ranks 1,2,4 \
       --batch-size 256 --calibrate tests/fixtures/bench_allreduce_p2.md --reduce-gbs 6 --algorithms ring)
ms() { echo "$host" | awk -F'|' -v p="$1" '$2 + 0 == p && $5 ~ /ring/ {print $6 + 0}'; }
# per worker: forward 0.1, backward 0.2, other 0.01; 8 workers: P = 1 runs 4 per
# executor (1.24 s + update), P = 4 runs 2 per rank at half a core (1.24 s + more)
awk -v a="$(ms 1)" 'BEGIN {exit !(a > 1245 && a < 1255)}' || fail "P = 1: $(ms 1) ms: $host"
awk -v a="$(ms 1)" -v b="$(ms 2)" -v c="$(ms 4)" 'BEGIN {exit !(b > a && c > b)}' || fail "P = 1, 2, 4: $host"

# a per-layer-type profile of a real run
prof=$("$BB" simulate --model resnet20 --input 1x28x28 --classes 10 --profile tests/fixtures/profile_resnet20.txt \
       --servers 1 --workers-per-server 2)
[[ "$prof" == *"backward 193.46 ms"* ]] || fail "profile: $prof"

# refusals name the problem
expect_fail() {  # needle, args...
    local needle=$1; shift
    if "$BB" simulate "$@" > /dev/null 2> "$TMP/err"; then fail "accepted: $*"; fi
    grep -q -- "$needle" "$TMP/err" || fail "unclear for $*: $(cat "$TMP/err")"
}
expect_fail "exactly one source" --servers 1
expect_fail "exactly one source" --fwd-ms 1 --device-gflops 10
expect_fail "unknown allreduce algorithm 'tree'" --fwd-ms 1 --algorithms ring,tree
expect_fail "needs --batch-size" --fwd-ms 1 --host-cores 2
expect_fail "--servers: expected" --fwd-ms 1 --servers 0,2
expect_fail "unknown model" --model resnet51 --fwd-ms 1
expect_fail "no rows" --fwd-ms 1 --calibrate "$run/config.json"
"$BB" simulate --help | grep -q -- "--calibrate FILE" || fail "help"
