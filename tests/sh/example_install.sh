# `make install` into a fresh prefix; examples/*.c build against it with
# nothing but `pkg-config --cflags --libs bigbatch` and run: a few iterations
# on synthetic data, a checkpoint the installed command reads back, a resume.
. "$(dirname "$0")/lib.sh"
command -v pkg-config >/dev/null || { echo "SKIP: pkg-config is not installed"; exit 77; }
case "$(basename "${BB_BUILD:-build}")" in   # the same kind of build as the one under test
    build) kind=() ;;
    build-san) kind=(SAN=1) ;;
    build-tsan) kind=(SAN=thread) ;;
    build-cuda) kind=(CUDA=1) ;;
    build-san-cuda) kind=(SAN=1 CUDA=1) ;;
    *) echo "SKIP: no install for build folder $BB_BUILD"; exit 77 ;;
esac
make -s install PREFIX="$TMP/prefix" "${kind[@]}" >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; fail "make install"; }
for f in lib/libbigbatch.a include/bigbatch.h lib/pkgconfig/bigbatch.pc bin/bigbatch; do
    [ -s "$TMP/prefix/$f" ] || fail "make install did not install $f"
done
export PKG_CONFIG_PATH="$TMP/prefix/lib/pkgconfig"
flags=$(pkg-config --cflags --libs bigbatch) || fail "pkg-config does not know bigbatch"
echo "$flags" | grep -q -- "-lopenblas" || fail "the .pc file misses the libraries a static link needs: $flags"
cc=${CC:-cc}
for src in examples/*.c; do
    name=$(basename "$src" .c)
    # shellcheck disable=SC2086
    $cc -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$TMP/$name" "$src" $flags || fail "$src does not build against the installed library"
done
mkdir -p "$TMP/run"
"$TMP/train_synthetic" "$TMP/run" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/out" "$TMP/err"; fail "train_synthetic failed"; }
[ "$(grep -c '^step step=' "$TMP/out")" -eq 6 ] || fail "expected 6 steps: $(cat "$TMP/out")"
grep -q '^resumed from iteration 3 of 6$' "$TMP/out" || fail "no resume from iteration 3: $(cat "$TMP/out")"
grep -q '^done after 6 iterations$' "$TMP/out" || fail "did not finish: $(cat "$TMP/out")"
grep -q '^eval .*count=64$' "$TMP/out" || fail "no evaluation of the 64 test samples: $(cat "$TMP/out")"
if grep -q 'loss=\(nan\|inf\)' "$TMP/out"; then fail "non-finite loss: $(cat "$TMP/out")"; fi
# the checkpoint is an ordinary one: the installed command reads it
"$TMP/prefix/bin/bigbatch" inspect --checkpoint "$TMP/run/example.safetensors" >"$TMP/inspect" || fail "inspect"
grep -q '^step: 3$' "$TMP/inspect" || fail "inspect does not show step 3: $(cat "$TMP/inspect")"
