#!/usr/bin/env bash
# Builds and runs the libFuzzer targets (fuzz/fuzz_*.c; see docs/RELIABILITY.md).
#
#   scripts/fuzz.sh seed [TARGET...]     write the seed inputs into fuzz/corpus/<target>/ (python3)
#   scripts/fuzz.sh run TARGET SECONDS   fuzz one target (nice -n 19); new inputs go to
#                                        build-fuzz/work/TARGET, crashes to fuzz/crashers/TARGET/,
#                                        the log to build-fuzz/logs/TARGET.log
#   scripts/fuzz.sh merge TARGET         minimize fuzz/corpus/TARGET + the work dir into fuzz/corpus/TARGET
#   scripts/fuzz.sh all SECONDS          run then merge every target, one after the other
#   scripts/fuzz.sh replay               every stored input through the libFuzzer binaries
#                                        (clang's UBSan checks more than gcc's; CI runs this)
#
# Targets: idx idx_gzip cifar json checkpoint config image image_index. The
# stored corpus and crashers are replayed by the test suite
# (tests/test_fuzz_replay.c).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS=(idx idx_gzip cifar json checkpoint config image image_index)
# keep in step with CHECKPOINT_FLAGS in fuzz/fuzz_checkpoint.c
CHECKPOINT_FLAGS=(--data synthetic --synthetic-shape 1x8x8 --synthetic-train 64 --synthetic-test 16
                  --synthetic-classes 4 --model resnet8 --width 1 --batch-size 32 --worker-batch 8 --epochs 1 --threads 1)

max_len() {
    case $1 in
        cifar) echo 6200 ;;          # two CIFAR-100 records
        checkpoint) echo 16384 ;;    # the seed checkpoint is about 13 KB
        image) echo 8192 ;;
        idx|idx_gzip) echo 2048 ;;
        *) echo 4096 ;;
    esac
}

# BB_FUZZ_NOBUILD=1: use the binaries as they are (a long campaign while the sources change)
build() { [ -n "${BB_FUZZ_NOBUILD:-}" ] || make -s fuzz -j2 >/dev/null; }

dicts() {
    # flags and choice values straight from the configuration table
    make -s -j2 build/bigbatch >/dev/null
    { ./build/bigbatch train --help | grep -o -- '--[a-z0-9-]*' | sort -u | sed 's/.*/"&"/'
      ./build/bigbatch train --help | sed -n 's/.*\[\(.*\)\].*/\1/p' | tr '|' '\n' | sort -u | sed '/^$/d; s/.*/"&"/'
      printf '"="\n"\\x00"\n"goyal"\n"quick"\n"1e-4"\n"-1"\n"0"\n"30,60,80"\n"1x8x8"\n'
    } > fuzz/dict/config.dict
}

seed() {
    dicts
    make -s -j2 build/bigbatch >/dev/null
    local tmp; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
    ./build/bigbatch train "${CHECKPOINT_FLAGS[@]}" --max-steps 1 --out "$tmp/run" 2>/dev/null
    # images and an image-folder index from bigbatch's own writers
    mkdir -p "$tmp/img"
    ${CC:-cc} -std=c11 -D_POSIX_C_SOURCE=200809L -Isrc -o "$tmp/fuzz_seed" scripts/fuzz_seed.c build/libbigbatch.a \
        -lopenblas -ljpeg -lpng -lz -lpthread -lm $(command -v mpicc >/dev/null && mpicc --showme:link)
    "$tmp/fuzz_seed" "$tmp/img"
    python3 - "$tmp/run/checkpoint.safetensors" "$tmp/img" "$@" <<'PY'
import gzip, json, os, struct, sys
root = "fuzz/corpus"
only = sys.argv[3:]
def put(target, name, data):
    if only and target not in only: return
    os.makedirs(f"{root}/{target}", exist_ok=True)
    open(f"{root}/{target}/seed-{name}", "wb").write(data)
def idx_images(n, h, w):
    return struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 37) % 256 for i in range(n * h * w))
def idx_labels(n):
    return struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n))
def pair(img, lab):
    return struct.pack("<I", len(img)) + img + lab
gz = lambda b: gzip.compress(b, mtime=0)
img, lab = idx_images(2, 3, 3), idx_labels(2)
put("idx", "raw", pair(img, lab))
put("idx", "gzip", pair(gz(img), gz(lab)))
put("idx", "mixed", pair(gz(img), lab))
put("idx", "one-pixel", pair(idx_images(1, 1, 1), idx_labels(1)))
put("idx", "mismatch", pair(idx_images(3, 2, 2), idx_labels(2)))
for ctl in (0x03, 0x07, 0x01, 0x0b, 0x33):
    put("idx_gzip", f"ctl{ctl:02x}", bytes([ctl]) + pair(img, lab))
rec10 = lambda lab: bytes([lab]) + bytes((i * 7) % 256 for i in range(3072))
rec100 = lambda c, f: bytes([c, f]) + bytes((i * 11) % 256 for i in range(3072))
put("cifar", "c10", b"\x00" + rec10(3))
put("cifar", "c10-two", b"\x00" + rec10(9) + rec10(0))
put("cifar", "c100", b"\x01" + rec100(19, 99))
put("cifar", "c10-gzip", b"\x02" + rec10(1))
put("cifar", "c100-gzip2", b"\x07" + rec100(0, 5) + rec100(1, 6))
ck = open(sys.argv[1], "rb").read()
put("checkpoint", "bigbatch", ck)
# damaged checkpoints (seed-bigbatch-v1, a checkpoint from before checksums,
# is stored as it was made): as is, or with the checksums made right again
# ("sealed"), so that the checks behind them are seeded too
import zlib
def seal(b):
    n = struct.unpack("<Q", b[:8])[0]
    key = b'"crc32.header":"'
    i = b.index(key, 8) + len(key)
    return b[:i] + b"%08x" % zlib.crc32(b[:i] + b"0" * 8 + b[i + 8:8 + n]) + b[i + 8:]
def edit(b, old, new):
    n = struct.unpack("<Q", b[:8])[0]
    h = b[8:8 + n]
    assert old in h, old
    h = h.replace(old, new, 1)
    return seal(struct.pack("<Q", len(h)) + h + b[8 + n:])
hl0 = struct.unpack("<Q", ck[:8])[0]
ckh = json.loads(ck[8:8 + hl0])
put("checkpoint", "v2-flipped-data", ck[:-1] + bytes([ck[-1] ^ 1]))
put("checkpoint", "v2-flipped-header", ck[:40] + bytes([ck[40] ^ 1]) + ck[41:])
put("checkpoint", "v2-appended", ck + b"garbage!" * 125)
o0, o1 = ckh["param/conv1.weight"]["data_offsets"], ckh["momentum/conv1.weight"]["data_offsets"]
a, b = b'"data_offsets":[%d,%d]' % tuple(o0), b'"data_offsets":[%d,%d]' % tuple(o1)
put("checkpoint", "v2-swapped-offsets", edit(edit(edit(ck, a, b"X"), b, a), b"X", b))
put("checkpoint", "v2-permuted-shape", edit(ck, b'"shape":[2,1,3,3]', b'"shape":[1,2,3,3]'))
put("checkpoint", "v2-renamed-key", edit(ck, b'"config.lr"', b'"config.Lr"'))
put("checkpoint", "v2-absurd-step", edit(ck, b'"step":"1"', b'"step":"99999999999"'))
put("checkpoint", "v2-epoch-seen", edit(ck, b'"epoch_seen":"32"', b'"epoch_seen":"31"'))
d0 = 8 + hl0 + o0[0]
nan = ck[:d0] + struct.pack("<f", float("nan")) + ck[d0 + 4:]
crc = b"%08x" % zlib.crc32(nan[d0:8 + hl0 + o0[1]])
old = ckh["__metadata__"]["crc32.tensor.param/conv1.weight"].encode()
put("checkpoint", "v2-nan", edit(nan, b'"crc32.tensor.param/conv1.weight":"' + old, b'"crc32.tensor.param/conv1.weight":"' + crc))
hl = struct.unpack("<Q", ck[:8])[0]
put("json", "checkpoint-header", ck[8:8 + hl])
def st(tensors, meta=None):
    hdr, off, data = {}, 0, b""
    if meta: hdr["__metadata__"] = meta
    for name, dt, shape, raw in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw); data += raw
    h = json.dumps(hdr).encode()
    return struct.pack("<Q", len(h)) + h + data
put("checkpoint", "small", st([("a", "F32", [2], b"\0" * 8), ("b", "I32", [1, 1], b"\1\0\0\0")], {"format": "x"}))
put("checkpoint", "empty", st([]))
for i, doc in enumerate([b'{"a":[1,2.5,-3e10,true,false,null],"b":{"c":"d\\u00e9\\n\\"x\\ud83d\\ude00"}}',
                         b'[[[[[]]]]]', b'"\\/\\b\\f\\r\\t"', b'-0.0e+1', b'{"":{}}', b'123456789012345678']):
    put("json", f"doc{i}", doc)
args = [["--lr", "0.2", "--batch-size", "512"], ["--preset", "goyal", "--batch-size=8192"],
        ["--model=resnet20", "--zero-gamma", "--flip", "0"], ["--decay", "step", "--milestones", "1,2,3"],
        ["--data", "cifar10", "--data-dir", "/x"], ["--nesterov", "--momentum-form", "form10"],
        ["--synthetic-shape", "3x32x32", "--worker-batch", "64", "--batch-size", "96"],
        ["--warmup", "constant", "--warmup-epochs", "2.5", "--lr-scaling", "sqrt"], ["--checkpoint", "x", "--per", "iteration"]]
for i, a in enumerate(args):
    put("config", f"args{i}", b"\0".join(x.encode() for x in a))
img = sys.argv[2]
for name, ctl in [("rgb.jpg", b"\x07\x00"), ("gray.jpg", b"\x00\x00"), ("prog.jpg", b"\x0b\x5a"), ("rgb.jpg", b"\x0b\xf5"),
                  ("gray.png", b"\x07\x00"), ("ga.png", b"\x07\x00"), ("rgb.png", b"\x0f\x35"), ("rgba.png", b"\x07\x00")]:
    put("image", f"{name}-{ctl.hex()}", ctl + open(f"{img}/{name}", "rb").read())
ix = open(f"{img}/index", "rb").read()
put("image_index", "index", b"\x00" + ix[:-4])      # the harness appends the CRC
put("image_index", "index-raw", b"\x80" + ix)       # as written, CRC included
PY
    printf '"dtype"\n"shape"\n"data_offsets"\n"__metadata__"\n"F32"\n"I32"\n"F64"\n"U8"\n"BOOL"\n"format"\n"step"\n"lr_prev"\n"config."\n"param/"\n"momentum/"\n"state/"\n"crc32.header"\n"crc32.tensor."\n"bigbatch-checkpoint-1"\n"bigbatch-checkpoint-2"\n"epoch_seen"\n' > fuzz/dict/checkpoint.dict
    printf '"{"\n"}"\n"["\n"]"\n":"\n","\n"true"\n"false"\n"null"\n"\\\\u"\n"\\\\ud800"\n"\\\\udc00"\n"e+"\n"-0"\n"1E-9"\n' > fuzz/dict/json.dict
}

run() {
    local t=$1 secs=$2
    build
    mkdir -p "build-fuzz/work/$t" "build-fuzz/logs" "fuzz/crashers/$t"
    local dict=(); [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
    echo "fuzzing $t for $secs s (log: build-fuzz/logs/$t.log)"
    # -close_fd_mask=2: the flag parser's own messages; libFuzzer and the sanitizers keep theirs
    nice -n 19 "build-fuzz/fuzz_$t" "build-fuzz/work/$t" "fuzz/corpus/$t" "${dict[@]}" \
        -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=60 -rss_limit_mb=2048 \
        -artifact_prefix="fuzz/crashers/$t/" -print_final_stats=1 -close_fd_mask=2 \
        > "build-fuzz/logs/$t.log" 2>&1 || { echo "$t: the fuzzer stopped (crash?): see build-fuzz/logs/$t.log"; return 1; }
    grep -E '^stat::|^#[0-9]+ *DONE' "build-fuzz/logs/$t.log" || true
}

merge() {
    local t=$1
    build
    local out="build-fuzz/merged/$t"
    rm -rf "$out"; mkdir -p "$out"
    # the checkpoint inputs are mutated 5-10 KB checkpoints: keep only those
    # that add coverage edges (not hit counts), so the stored set stays small
    local edges=(); [ "$t" = checkpoint ] && edges=(-use_counters=0)
    nice -n 19 "build-fuzz/fuzz_$t" -merge=1 "${edges[@]}" -max_len="$(max_len "$t")" -close_fd_mask=2 "$out" \
        "fuzz/corpus/$t" "build-fuzz/work/$t" > "build-fuzz/logs/$t.merge.log" 2>&1
    rm -rf "fuzz/corpus/$t"; mkdir -p "fuzz/corpus/$t"
    # seeds keep their names; the rest are named by content hash
    cp "$out"/* "fuzz/corpus/$t/"
    echo "$t: $(ls "fuzz/corpus/$t" | wc -l) inputs, $(du -sk "fuzz/corpus/$t" | cut -f1) KiB"
}

replay() {
    build
    for t in "${TARGETS[@]}"; do
        local dirs=("fuzz/corpus/$t"); [ -d "fuzz/crashers/$t" ] && dirs+=("fuzz/crashers/$t")
        local files; files=$(find "${dirs[@]}" -type f | sort)
        # shellcheck disable=SC2086
        "build-fuzz/fuzz_$t" -runs=0 -close_fd_mask=2 $files > "build-fuzz/replay-$t.log" 2>&1 ||
            { tail -30 "build-fuzz/replay-$t.log"; echo "replay: $t failed"; return 1; }
        echo "replay: $t: $(echo "$files" | wc -l) inputs clean"
    done
}

case ${1:-} in
    seed) shift; seed "$@" ;;
    dicts) dicts ;;
    run) run "$2" "$3" ;;
    merge) merge "$2" ;;
    replay) replay ;;
    all) for t in "${TARGETS[@]}"; do run "$t" "$2" || true; merge "$t"; done ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
esac
