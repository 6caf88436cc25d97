#!/usr/bin/env bash
# sidebyside.sh: mailsuite against Debian's Postfix and Dovecot on this
# machine, in one run: the same mailbench workloads against each server,
# ROUNDS rounds whose server order alternates, then Markdown tables of the
# medians with mailsuite/peer ratios (also left in $WORK/table.md, the raw
# figures in $WORK/results.txt).
#
#   cmd/mailbench/sidebyside.sh                       # moderate counts, ~10 min on 2 cores
#   ROUNDS=5 BIG_N=100000 IDLE_N=1000 cmd/mailbench/sidebyside.sh
#   MAILSUITE_REF=HEAD cmd/mailbench/sidebyside.sh     # the last commit, not the working tree
#   PARTS="disk smtp" ROUNDS=7 cmd/mailbench/sidebyside.sh   # some workloads only
#
# Needs root: it installs the peers with apt-get when they are missing (as
# ../shared/peers/README.md says), runs them as private instances under
# $WORK/perfref with ../shared/peers/peers.sh (copied, the shared copy is
# read-only), and raises fs.inotify.max_user_instances, without which
# Dovecot's IDLE falls back to polling past 128 sessions of one Unix user.
# Everything listens on 127.0.0.1 only and is stopped on exit.
#
# mailsuite runs with auth.allow_plaintext = true: the benchmark logs in
# over 127.0.0.1 without TLS, as it does to the peers (whose configs have
# ssl = no), so that no server pays for TLS and the others do not. That
# setting allows plaintext logins from loopback only.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PEERS_SRC="${PEERS_SRC:-$REPO/../shared/peers}"
WORK="${WORK:-/tmp/mailbench-sbs}"
ROUNDS="${ROUNDS:-3}"
# The workloads to run, of: disk smtp select bodies expunge mixed idle growth.
PARTS="${PARTS:-disk smtp select bodies expunge mixed idle growth}"
for p in $PARTS; do
  case "$p" in
    disk|smtp|select|bodies|expunge|mixed|idle|growth) ;;
    *) echo "sidebyside.sh: PARTS names '$p'; the parts are: disk smtp select bodies expunge mixed idle growth" >&2; exit 2 ;;
  esac
done
part() { [[ " $PARTS " == *" $1 "* ]]; }

SMTP_N="${SMTP_N:-2000}"            # 4 KiB messages per SMTP run
SMTP_C="${SMTP_C:-8}"               # SMTP sessions
SMTP_SIZE="${SMTP_SIZE:-4096}"
BIGMSG_N="${BIGMSG_N:-64}"          # 1 MiB messages per run
BIGMSG_SIZE="${BIGMSG_SIZE:-1048576}"
BIG_N="${BIG_N:-100000}"            # the large folder for SELECT + UID FETCH
BIG_SIZE="${BIG_SIZE:-2048}"
BODIES_N="${BODIES_N:-10000}"       # FETCH of all bodies, SEARCH, POP3 RETR
BODIES_SIZE="${BODIES_SIZE:-4096}"
EXPUNGE_N="${EXPUNGE_N:-20000}"
MIX_BASE="${MIX_BASE:-2000}"        # messages in the mixed workload's folder
MIX_C="${MIX_C:-8}"
MIX_DURATION="${MIX_DURATION:-10s}"
IDLE_N="${IDLE_N:-1000}"
DISK_N="${DISK_N:-2000}"
GROWTH_N="${GROWTH_N:-2000}"        # deliveries into an empty and a full mailbox
GROWTH_FILL="${GROWTH_FILL:-50000}"

MS_SMTP="${MS_SMTP:-24025}" MS_IMAP="${MS_IMAP:-24143}" MS_POP3="${MS_POP3:-24110}"
export ROOT="$WORK/perfref"
export DOVECOT_IMAP_PORT=22143 DOVECOT_POP3_PORT=22110 DOVECOT_LMTP_PORT=22024 POSTFIX_SMTP_PORT=22025

BIN="$WORK/bin"
MB="$BIN/mailbench"
RESULTS="$WORK/results.txt"
LOG="$WORK/mailbench.log"
FAILURES="$WORK/failures.txt"
PEERS="$WORK/peers/peers.sh"

say() { printf '%s %s\n' "$(date +%T)" "$*"; }

[ "$(id -u)" = 0 ] || { echo "sidebyside.sh: run as root (apt-get, peers' users, sysctl)" >&2; exit 2; }

install_peers() {
  if command -v dovecot >/dev/null && command -v postfix >/dev/null && [ -x /usr/lib/dovecot/lmtp ]; then
    return
  fi
  say "installing dovecot and postfix from Debian's packages"
  apt-get update -q
  echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix
}

# ---- mailsuite -------------------------------------------------------------
MS_DIR="$WORK/ms"
ms_start() {
  "$BIN/mailsuite" --config "$MS_DIR/mailsuite.toml" serve >>"$MS_DIR/server.log" 2>&1 &
  echo $! > "$MS_DIR/pid"
  local i
  for i in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$MS_IMAP") 2>/dev/null; then return 0; fi
    kill -0 "$(cat "$MS_DIR/pid")" 2>/dev/null || { tail -20 "$MS_DIR/server.log" >&2; return 1; }
    sleep 0.1
  done
  echo "mailsuite did not open $MS_IMAP" >&2; return 1
}
ms_stop() {
  local p; p="$(cat "$MS_DIR/pid" 2>/dev/null || true)"
  [ -n "$p" ] || return 0
  if kill -0 "$p" 2>/dev/null; then
    kill -TERM "$p"
    for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$MS_DIR/pid"
}
ms_setup() {
  mkdir -p "$MS_DIR"
  cat > "$MS_DIR/mailsuite.toml" <<EOF
# Written by sidebyside.sh. Plaintext logins are allowed because the
# benchmark runs over 127.0.0.1 only (mailsuite allows them from loopback
# only), as the peers run with ssl = no.
hostname = "mail.bench.test"
domains  = ["bench.test"]
data_dir = "$MS_DIR/data"

[listen]
smtp = "127.0.0.1:$MS_SMTP"
imap = "127.0.0.1:$MS_IMAP"
pop3 = "127.0.0.1:$MS_POP3"

[auth]
allow_plaintext = true

[limits]
max_message_size       = 104857600
max_connections        = 5000
max_connections_per_ip = 5000

[log]
level = "warn"
EOF
  local u
  for u in bench bench100k bench10k benchmix benchidle; do
    echo benchpass | "$BIN/mailsuite" --config "$MS_DIR/mailsuite.toml" user add "$u@bench.test" >/dev/null
  done
}

# ---- targets ---------------------------------------------------------------
# flags TARGET: the mailbench flags that reach TARGET.
flags() {
  case "$1" in
    mailsuite) echo "-smtp-port $MS_SMTP -imap-port $MS_IMAP -pop3-port $MS_POP3" ;;
    dovecot)   echo "-smtp-port $DOVECOT_LMTP_PORT -smtp-proto lmtp -imap-port $DOVECOT_IMAP_PORT -pop3-port $DOVECOT_POP3_PORT" ;;
    postfix)   echo "-smtp-port $POSTFIX_SMTP_PORT" ;;
  esac
}
# maildir TARGET USER: where TARGET keeps USER's INBOX.
maildir() {
  case "$1" in
    mailsuite) echo "$MS_DIR/data/mail/bench.test/$2" ;;
    dovecot)   echo "$ROOT/data/dovecot/$2/Maildir" ;;
    postfix)   echo "$ROOT/data/postfix/bench/Maildir" ;;  # every bench.test address lands there
  esac
}
server_pid() {
  case "$1" in
    mailsuite) cat "$MS_DIR/pid" ;;
    *) "$PEERS" pid "$1" ;;
  esac
}
restart() {
  case "$1" in
    mailsuite) ms_stop; ms_start ;;
    *) "$PEERS" stop "$1"; "$PEERS" start "$1" ;;
  esac
}
# order ROUND TARGET...: the targets, reversed on even rounds.
order() {
  local r=$1; shift
  if [ $((r % 2)) = 1 ]; then echo "$@"; else echo "$@" | tr ' ' '\n' | tac | tr '\n' ' '; fi
}

# bench TARGET ROUND USER ARGS...: run mailbench against TARGET as USER and
# record its figures as "TARGET ROUND name value unit".
bench() {
  local t=$1 r=$2 u=$3; shift 3
  local out rc=0
  # shellcheck disable=SC2046
  out="$("$MB" $(flags "$t") -user "$u@bench.test" -timeout 5m "$@" 2>>"$LOG")" || rc=$?
  printf '%s\n' "$out" | awk -v t="$t" -v r="$r" 'NF == 3 { print t, r, $0 }' >> "$RESULTS"
  printf '# %s round %s: %s\n%s\n' "$t" "$r" "$*" "$out" >> "$LOG"
  if [ "$rc" != 0 ]; then
    echo "$t round $r: mailbench $* (exit $rc; see $LOG)" | tee -a "$FAILURES" >&2
  fi
}
# prep TARGET USER ARGS...: run mailbench for set-up; figures go to the log only.
prep() {
  local t=$1 u=$2; shift 2
  local rc=0
  # shellcheck disable=SC2046
  { echo "# prep $t: $*"; "$MB" $(flags "$t") -user "$u@bench.test" -timeout 5m "$@"; } >>"$LOG" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    echo "$t prep: mailbench $* (exit $rc; see $LOG)" | tee -a "$FAILURES" >&2
  fi
}

cleanup() {
  ms_stop || true
  [ -x "$PEERS" ] && { "$PEERS" stop dovecot || true; "$PEERS" stop postfix || true; }
}

# ---- set-up ----------------------------------------------------------------
install_peers
if [ -d "$WORK" ]; then
  # a previous run's servers, by their recorded pids only
  ms_stop 2>/dev/null || true
  [ -x "$PEERS" ] && { "$PEERS" stop dovecot 2>/dev/null || true; "$PEERS" stop postfix 2>/dev/null || true; }
  rm -rf "$WORK"
fi
mkdir -p "$WORK" "$BIN"
chmod 755 "$WORK"
: > "$RESULTS"; : > "$LOG"; : > "$FAILURES"
trap cleanup EXIT

if [ "$(cat /proc/sys/fs/inotify/max_user_instances)" -lt 4096 ]; then
  sysctl -q -w fs.inotify.max_user_instances=4096 || echo "warning: could not raise fs.inotify.max_user_instances; Dovecot IDLE will poll past 128 sessions" >&2
fi

# The mailsuite measured: the working tree as it is (the default, for
# measuring a change before committing it), or the commit MAILSUITE_REF
# names (MAILSUITE_REF=HEAD: what is committed, whatever is being edited).
if [ -n "${MAILSUITE_REF:-}" ]; then
  MS_LABEL="$(git -C "$REPO" rev-parse --short "$MAILSUITE_REF") ($MAILSUITE_REF)"
  say "building mailsuite $MS_LABEL and mailbench"
  mkdir -p "$WORK/src"
  git -C "$REPO" archive "$MAILSUITE_REF" | tar -x -C "$WORK/src"
  (cd "$WORK/src" && go build -o "$BIN/mailsuite" ./cmd/mailsuite)
else
  MS_LABEL="$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?') (the working tree)"
  say "building mailsuite $MS_LABEL and mailbench"
  (cd "$REPO" && go build -o "$BIN/mailsuite" ./cmd/mailsuite)
fi
(cd "$REPO" && go build -o "$BIN/mailbench" ./cmd/mailbench)

say "starting mailsuite (127.0.0.1:$MS_SMTP/$MS_IMAP/$MS_POP3), Dovecot and Postfix (under $ROOT)"
cp -r "$PEERS_SRC" "$WORK/peers"
chmod -R u+w "$WORK/peers"
"$PEERS" setup dovecot
"$PEERS" start dovecot
"$PEERS" setup postfix
"$PEERS" start postfix
ms_setup
# The same password hashing on both IMAP/POP3 servers: Dovecot's test users
# get mailsuite's own argon2id hashes (its {ARGON2ID} scheme verifies the
# same PHC strings), so that a LOGIN costs the same work on both.
# PEER_PLAIN=1 keeps the peers' plain-text passwords.
if [ "${PEER_PLAIN:-0}" != 1 ]; then
  python3 - "$MS_DIR/data/users.db" "$ROOT/dovecot/users" <<'PY'
import json, sys
users = json.load(open(sys.argv[1]))["users"]
with open(sys.argv[2], "w") as out:
    for addr, u in sorted(users.items()):
        out.write("%s:{ARGON2ID}%s::::::\n" % (addr.split("@")[0], u["password"]))
PY
fi
ms_start

{
  echo "# sidebyside.sh $(date -u +%FT%TZ) on $(uname -srm), $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB"
  echo "# mailsuite $MS_LABEL, $(go version | cut -d' ' -f3)"
  echo "# dovecot $(dovecot --version), postfix $(postconf -dh mail_version)"
  if [ "${PEER_PLAIN:-0}" != 1 ]; then
    echo "# Dovecot's users have mailsuite's argon2id hashes (m=19456,t=2,p=1)"
  else
    echo "# Dovecot's users have plain-text passwords"
  fi
} | tee -a "$RESULTS"

# ---- the disk's ceiling ----------------------------------------------------
if part disk; then
for r in $(seq 1 "$ROUNDS"); do
  say "round $r: disk ceiling"
  out="$("$MB" -disk-dir "$WORK" -n "$DISK_N" -size "$SMTP_SIZE" disk 2>>"$LOG")" || echo "disk round $r failed" | tee -a "$FAILURES"
  printf '%s\n' "$out" | awk -v r="$r" 'NF == 3 { print "disk", r, $0 }' >> "$RESULTS"
done
fi

# ---- SMTP: 4 KiB over 8 sessions, one and many per connection; 1 MiB -------
if part smtp; then
for r in $(seq 1 "$ROUNDS"); do
  for t in $(order "$r" mailsuite postfix dovecot); do
    say "round $r: SMTP $t"
    bench "$t" "$r" bench -maildir "$(maildir "$t" bench)" -n "$SMTP_N" -c "$SMTP_C" -size "$SMTP_SIZE" smtp1 smtpn
    bench "$t" "$r" bench -maildir "$(maildir "$t" bench)" -n "$BIGMSG_N" -c "$SMTP_C" -size "$BIGMSG_SIZE" -tag 1m smtpn
  done
done
fi

# ---- IMAP, the large folder: first SELECT after a restart, and warm -------
if part select; then
for t in mailsuite dovecot; do
  say "filling $t's bench100k with $BIG_N messages"
  prep "$t" bench100k -maildir "$(maildir "$t" bench100k)" -n "$BIG_N" -size "$BIG_SIZE" fill-maildir
  prep "$t" bench100k -repeat 1 select   # the server indexes the new files
done
for r in $(seq 1 "$ROUNDS"); do
  for t in $(order "$r" mailsuite dovecot); do
    say "round $r: SELECT $BIG_N on $t"
    restart "$t"
    bench "$t" "$r" bench100k select-first
    bench "$t" "$r" bench100k -repeat 3 select
  done
done
fi

# ---- IMAP and POP3, 10,000 messages: FETCH bodies, SEARCH, RETR ------------
if part bodies; then
for t in mailsuite dovecot; do
  prep "$t" bench10k -maildir "$(maildir "$t" bench10k)" -n "$BODIES_N" -size "$BODIES_SIZE" fill-maildir
  prep "$t" bench10k -repeat 1 select
  prep "$t" benchmix -maildir "$(maildir "$t" benchmix)" -n "$MIX_BASE" -size "$SMTP_SIZE" fill-maildir
  prep "$t" benchmix -repeat 1 select
done
for r in $(seq 1 "$ROUNDS"); do
  for t in $(order "$r" mailsuite dovecot); do
    say "round $r: FETCH, SEARCH, POP3 on $t"
    bench "$t" "$r" bench10k -repeat 1 fetch search pop3
  done
done
fi

# ---- EXPUNGE of 20,000 (the folder is topped up each round) ---------------
if part expunge; then
for r in $(seq 1 "$ROUNDS"); do
  for t in $(order "$r" mailsuite dovecot); do
    say "round $r: EXPUNGE $EXPUNGE_N on $t"
    prep "$t" benchmix -maildir "$(maildir "$t" benchmix)" -n "$EXPUNGE_N" -size "$SMTP_SIZE" fill-maildir
    prep "$t" benchmix -repeat 1 select
    bench "$t" "$r" benchmix -expunge-n "$EXPUNGE_N" expunge
  done
done
fi

# ---- mixed workload --------------------------------------------------------
if part mixed; then
for r in $(seq 1 "$ROUNDS"); do
  for t in $(order "$r" mailsuite dovecot); do
    say "round $r: mixed, $MIX_C clients for $MIX_DURATION on $t"
    bench "$t" "$r" benchmix -c "$MIX_C" -duration "$MIX_DURATION" -n 10000000 mixed
  done
done
fi

# ---- idle sessions ---------------------------------------------------------
if part idle; then
for r in $(seq 1 "$ROUNDS"); do
  for t in $(order "$r" mailsuite dovecot); do
    say "round $r: $IDLE_N IDLE sessions on $t"
    bench "$t" "$r" benchidle -pid "$(server_pid "$t")" -idle-n "$IDLE_N" -c 16 idle
  done
done
fi

# ---- growth: delivery into an empty mailbox, then into a full one (once) --
if part growth; then
sleep 3   # let the servers finish closing the idle sessions
for t in mailsuite dovecot; do
  say "growth: $GROWTH_N deliveries into an empty and a $GROWTH_FILL-message mailbox on $t"
  bench "$t" 1 benchidle -maildir "$(maildir "$t" benchidle)" -n "$GROWTH_N" -c "$SMTP_C" -size "$SMTP_SIZE" -tag empty smtpn
  prep "$t" benchidle -maildir "$(maildir "$t" benchidle)" -n "$GROWTH_FILL" -size "$SMTP_SIZE" fill-maildir
  prep "$t" benchidle -repeat 1 select
  bench "$t" 1 benchidle -maildir "$(maildir "$t" benchidle)" -n "$GROWTH_N" -c "$SMTP_C" -size "$SMTP_SIZE" -tag full smtpn
done
fi

say "done"
echo
"$MB" table "$RESULTS" | tee "$WORK/table.md"
if [ -s "$FAILURES" ]; then
  echo
  echo "Checks that failed (figures above include these runs):"
  cat "$FAILURES"
  exit 1
fi
