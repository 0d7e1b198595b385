# shellcheck shell=bash source-path=SCRIPTDIR
# Shared by jobscripts/perlmutter/*.sbatch, sourced once SKYSSL_ROOT is known. Picks the site,
# builds the trainer's command line, and runs one training step with signal forwarding.
#   SKYSSL_SITE       perlmutter | local: sources jobscripts/sites/$SKYSSL_SITE.sh (default perlmutter)
#   SKYSSL_BUILD_DIR  build directory (default $SKYSSL_ROOT/build)
#   SKYSSL_TRAIN_BIN  the trainer (default $SKYSSL_BUILD_DIR/apps/train/skyssl-train)
#   SKYSSL_PRESET     built-in config (decals, sdss, example; the script sets its default)
#   SKYSSL_CONFIG     a TOML file merged over the preset (optional)
#   SKYSSL_SET        extra overrides, space-separated section.key=value (applied last, so they win)
#   SKYSSL_RESUME     auto | never | PATH, passed to --resume (default auto)
#   SKYSSL_GLOBAL_BATCH   train.global_batch (train, campaign): pins it whatever the node count
#   SKYSSL_BATCH_PER_RANK else the global batch is this x ranks (default: the site's, 256 per
#                     GPU on Perlmutter as published; none on the local site: the preset's)

SKYSSL_SITE=${SKYSSL_SITE:-perlmutter}
SKYSSL_BUILD_DIR=${SKYSSL_BUILD_DIR:-$SKYSSL_ROOT/build}
SKYSSL_TRAIN_BIN=${SKYSSL_TRAIN_BIN:-$SKYSSL_BUILD_DIR/apps/train/skyssl-train}
SKYSSL_RESUME=${SKYSSL_RESUME:-auto}

skyssl_log() { printf '%s skyssl[%s]: %s\n' "$(date '+%F %T')" "${SLURM_JOB_ID:-local}" "$*"; }
skyssl_die() { skyssl_log "ERROR: $*" >&2; exit 1; }

[ -f "$SKYSSL_ROOT/jobscripts/sites/$SKYSSL_SITE.sh" ] ||
  skyssl_die "no site file jobscripts/sites/$SKYSSL_SITE.sh (SKYSSL_SITE=perlmutter|local)"
# The site defines skyssl_set_launcher NODES (-> array skyssl_launcher), skyssl_site_sets
# (config overrides the machine needs, e.g. train.device) and loads its environment.
# shellcheck source=sites/perlmutter.sh
source "$SKYSSL_ROOT/jobscripts/sites/$SKYSSL_SITE.sh"
[ -x "$SKYSSL_TRAIN_BIN" ] || skyssl_die "trainer not found: $SKYSSL_TRAIN_BIN (build first, or set SKYSSL_TRAIN_BIN)"

# skyssl_train_args RUN_DIR [section.key=value ...] -> array skyssl_args.
# Order = precedence: site, then the script's defaults, then the user's SKYSSL_SET.
skyssl_train_args() {
  local run_dir=$1 s user=()
  shift
  read -r -a user <<<"${SKYSSL_SET:-}"  # read, not $SKYSSL_SET unquoted: no globbing of data.path
  skyssl_args=()
  [ -z "${SKYSSL_PRESET:-}" ] || skyssl_args+=(--preset "$SKYSSL_PRESET")
  [ -z "${SKYSSL_CONFIG:-}" ] || skyssl_args+=(--config "$SKYSSL_CONFIG")
  for s in "${skyssl_site_sets[@]}" "$@" "${user[@]}"; do skyssl_args+=(--set "$s"); done
  skyssl_args+=(--run-dir "$run_dir" --resume "$SKYSSL_RESUME")
}

# skyssl_batch_set NODES -> prints train.global_batch=N, or nothing (keep the config's). A batch
# per rank keeps the memory per GPU fixed when -N changes; a resumed run must keep its global
# batch, so pin SKYSSL_GLOBAL_BATCH to continue a campaign on another node count.
skyssl_batch_set() {
  local per=${SKYSSL_BATCH_PER_RANK:-${skyssl_batch_per_rank:-}}
  if [ -n "${SKYSSL_GLOBAL_BATCH:-}" ]; then
    echo "train.global_batch=$SKYSSL_GLOBAL_BATCH"
  elif [ -n "$per" ]; then
    echo "train.global_batch=$((per * $1 * skyssl_ranks_per_node))"
  fi
}

# Newest checkpoint step in RUN_DIR/checkpoints/ckpt-<step>/, or -1.
skyssl_newest_checkpoint() {
  local d n best=-1
  for d in "$1"/checkpoints/ckpt-*/; do
    n=${d%/}
    n=${n##*/ckpt-}
    if [[ $n =~ ^[0-9]+$ ]] && ((10#$n > best)); then best=$((10#$n)); fi
  done
  echo "$best"
}

# skyssl_seconds TIME: a Slurm time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) in
# seconds; empty for UNLIMITED, N/A or anything else.
skyssl_seconds() {
  local t=$1 d=0 h=0 m=0 s=0
  if [[ $t =~ ^([0-9]+)-([0-9]+)(:([0-9]+))?(:([0-9]+))?$ ]]; then
    d=${BASH_REMATCH[1]} h=${BASH_REMATCH[2]} m=${BASH_REMATCH[4]:-0} s=${BASH_REMATCH[6]:-0}
  elif [[ $t =~ ^([0-9]+):([0-9]+):([0-9]+)$ ]]; then
    h=${BASH_REMATCH[1]} m=${BASH_REMATCH[2]} s=${BASH_REMATCH[3]}
  elif [[ $t =~ ^([0-9]+)(:([0-9]+))?$ ]]; then
    m=${BASH_REMATCH[1]} s=${BASH_REMATCH[3]:-0}
  else
    return 0
  fi
  echo $((((10#$d * 24 + 10#$h) * 60 + 10#$m) * 60 + 10#$s))
}

# skyssl_job_field NAME: one field of `scontrol show job` for this job (TimeLimit, TimeMin, QOS...).
# Empty outside a Slurm job.
skyssl_job_field() {
  [ -n "${SLURM_JOB_ID:-}" ] || return 0
  scontrol show job "$SLURM_JOB_ID" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

# The batch shell's signal handler: whatever came (Slurm's USR1 warning, scancel's TERM, INT),
# the trainer is sent SIGUSR1, its "checkpoint and stop" signal. Not TERM: mpirun answers a
# TERM by killing its ranks, srun answers a first INT with a status line only.
skyssl_on_signal() {
  skyssl_got=$1
  skyssl_traps=$((skyssl_traps + 1))
  skyssl_log "received SIG$1: asking the trainer to checkpoint and stop"
  if [ -n "$skyssl_step_pid" ]; then kill -USR1 "$skyssl_step_pid" 2>/dev/null || true; fi
}

# skyssl_run_step NODES: runs the trainer with skyssl_args on NODES nodes in the background and
# waits for it, forwarding signals. Sets skyssl_rc (its exit code) and skyssl_got (the signal
# the batch shell received, empty if none).
skyssl_run_step() {
  local t r
  skyssl_got="" skyssl_traps=0 skyssl_step_pid="" skyssl_rc=127
  trap 'skyssl_on_signal USR1' USR1
  trap 'skyssl_on_signal TERM' TERM
  trap 'skyssl_on_signal INT' INT
  skyssl_set_launcher "$1"
  skyssl_log "launch: ${skyssl_launcher[*]} $SKYSSL_TRAIN_BIN ${skyssl_args[*]}"
  # In the background: bash runs a trap only between commands, so a foreground srun would
  # hold the trap back until training ended on its own.
  "${skyssl_launcher[@]}" "$SKYSSL_TRAIN_BIN" "${skyssl_args[@]}" &
  skyssl_step_pid=$!
  if [ -n "$skyssl_got" ]; then kill -USR1 "$skyssl_step_pid" 2>/dev/null || true; fi
  # A trap interrupts wait (it returns 128+signal while the step still runs): wait again until
  # a wait returns without a trap in between. 127 = already collected by the previous wait.
  while :; do
    t=$skyssl_traps
    r=0
    wait "$skyssl_step_pid" || r=$?
    ((r == 127)) && break
    skyssl_rc=$r
    ((t == skyssl_traps)) && break
  done
  # A late USR1 (the trainer already gone) must not kill the shell before it requeues.
  trap 'skyssl_log "SIGUSR1 after the trainer ended: nothing to forward"' USR1
  trap - TERM INT
  skyssl_log "trainer exited with code $skyssl_rc${skyssl_got:+ (batch shell got SIG$skyssl_got)}"
}
