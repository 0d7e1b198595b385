#!/bin/sh
# The benchmark programs refuse bad input with one line naming the culprit and exit 1; they
# must not abort with a stack dump. Usage: bad_input.sh <bench_train_step> <bench_augment>
fail=0
expect() {  # expect <wanted stderr text> <command...>
  want=$1
  shift
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne 1 ]; then echo "FAIL (exit $rc, want 1): $*"; fail=1; fi
  case $out in
    *"$want"*) ;;
    *) echo "FAIL (no '$want'): $*"; echo "$out"; fail=1 ;;
  esac
  case $out in
    *"Signal"* | *"terminate called"*) echo "FAIL (aborted): $*"; fail=1 ;;
  esac
}
expect "bench_train_step: archive file '/nonexistent/survey.h5' does not exist" \
  "$1" --archive /nonexistent/survey.h5
expect "bench_augment: --off: unknown step bogus" "$2" --off bogus --iters 1
exit $fail
