# Damaged checkpoints through the command line: each refused with exit 1 and a
# message naming the file and the damage, never a hang (FIFO, 20 GB sparse
# file: each command under `timeout`); a checkpoint from before checksums
# resumes with a notice and the next checkpoint has checksums.
. "$(dirname "$0")/lib.sh"
SMALL=(--data synthetic --synthetic-shape 1x8x8 --synthetic-train 64 --synthetic-test 16 --synthetic-classes 4
       --model resnet8 --width 1 --batch-size 32 --worker-batch 8 --epochs 2 --threads 1)
"$BB" train "${SMALL[@]}" --max-steps 3 --out "$TMP/run" 2>/dev/null || fail "train"
ck=$TMP/run/checkpoint.safetensors
"$BB" inspect --checkpoint "$ck" | grep -q "^checksum: verified (CRC-32 of the header and of each of the 60 tensors)" \
    || fail "inspect: no verified checksum: $("$BB" inspect --checkpoint "$ck")"
# refused: exit 1 within 10 s (124 would be the timeout) and the message has $2
refused() {
    local what=$1 needle=$2 rc=0; shift 2
    timeout 10 "$@" >"$TMP/out.log" 2>&1 || rc=$?
    [ "$rc" -eq 1 ] || fail "$what: exit $rc, expected 1: $(cat "$TMP/out.log")"
    grep -qF -- "$needle" "$TMP/out.log" || fail "$what: message without '$needle': $(cat "$TMP/out.log")"
}
# every command that reads a checkpoint
all_refuse() {
    refused "$1 (inspect)" "$3" "$BB" inspect --checkpoint "$2"
    refused "$1 (eval)" "$3" "$BB" eval --checkpoint "$2"
    refused "$1 (train --resume)" "$3" "$BB" train --resume "$2" --out "$TMP/resumed"
    [ ! -e "$TMP/resumed/checkpoint.safetensors" ] || fail "$1: a run went on"
}
flip() {  # flips the low bit of the byte at offset $2 of file $1
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
size=$(stat -c %s "$ck")
cp "$ck" "$TMP/flip.st"; flip "$TMP/flip.st" $((size - 1))
all_refuse "flipped data byte" "$TMP/flip.st" "tensor 'state/layer3.0.bn2.running_var': checksum mismatch"
cp "$ck" "$TMP/flip.st"; flip "$TMP/flip.st" 40
all_refuse "flipped header byte" "$TMP/flip.st" "header checksum mismatch"
cp "$ck" "$TMP/garbage.st"; head -c 1000 /dev/urandom >> "$TMP/garbage.st"
all_refuse "appended garbage" "$TMP/garbage.st" "1000 bytes after the last tensor's data"
sed 's/"config\.lr"/"config.Lr"/' "$ck" > "$TMP/renamed.st"
cmp -s "$ck" "$TMP/renamed.st" && fail "sed did not rename the key"
all_refuse "renamed key" "$TMP/renamed.st" "header checksum mismatch"
mkfifo "$TMP/fifo"
all_refuse "FIFO" "$TMP/fifo" "not a regular file (it is a FIFO)"
all_refuse "directory" "$TMP/run" "not a regular file (it is a directory)"
truncate -s 20G "$TMP/sparse.st"
all_refuse "20 GB sparse file" "$TMP/sparse.st" "header length 0 does not fit the file of 21474836480 bytes"
cp "$ck" "$TMP/long.st"; truncate -s 20G "$TMP/long.st"
all_refuse "checkpoint made 20 GB long" "$TMP/long.st" "bytes after the last tensor's data"
# the old format: resumes with a notice, then writes checksums
cp tests/fixtures/checkpoint_v1.safetensors "$TMP/v1.st"
"$BB" train --resume "$TMP/v1.st" --max-steps 0 --out "$TMP/v1run" 2>"$TMP/v1.log" || fail "old format refused: $(cat "$TMP/v1.log")"
grep -q "^notice: .*written before checkpoints had checksums (format bigbatch-checkpoint-1)" "$TMP/v1.log" \
    || fail "no notice for the old format: $(cat "$TMP/v1.log")"
"$BB" inspect --checkpoint "$TMP/v1run/checkpoint.safetensors" | grep -q "^step: 4$" || fail "old-format resume did not finish"
"$BB" inspect --checkpoint "$TMP/v1run/checkpoint.safetensors" | grep -q "^checksum: verified" || fail "no checksum after resume"
"$BB" inspect --checkpoint "$TMP/v1.st" | grep -q "^checksum: none" || fail "inspect of the old format"
echo "ok"
