#!/bin/bash
# Escape battery, bash side: what bash can attempt by itself it does here;
# the rest runs the probe shipped in the job (a job may ship any ELF).
c="$1"; shift
r() { echo "RESULT $c $1 ${2//$'\n'/ }"; exit 0; }
case "$c" in
  read_shadow) out=$(cat /etc/shadow 2>&1) && r ESCAPED "read /etc/shadow" || r BLOCKED "$out" ;;
  list_root) out=$(ls -A /root 2>&1) && r ESCAPED "listed /root" || r BLOCKED "$out" ;;
  list_outside) out=$(ls -A "$1" 2>&1) && r ESCAPED "listed: $out" || r BLOCKED "$out" ;;
  read_other_job) out=$(cat "$1" 2>&1) && r ESCAPED "read: $out" || r BLOCKED "$out" ;;
  write_outside) out=$( { echo pwned > "$1/escape-bash"; } 2>&1) && r ESCAPED "wrote" || r BLOCKED "$out" ;;
  symlink_read) ln -sfn /etc etclink; out=$(cat etclink/shadow 2>&1) && r ESCAPED "read via a symlink" || r BLOCKED "$out" ;;
  symlink_write) ln -sfn "$1" outlink; out=$( { echo pwned > outlink/escape-bash-link; } 2>&1) && r ESCAPED "wrote via a symlink" || r BLOCKED "$out" ;;
  tcp_connect) out=$( { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>&1) && r ESCAPED "connected" || r BLOCKED "$out" ;;
  udp_send) out=$( { echo udp-escape > "/dev/udp/127.0.0.1/$1"; } 2>&1) && r INFO "sent a datagram" || r BLOCKED "$out" ;;
  cpu_loop) while :; do :; done ;;
  kill_victim) for p; do kill -9 "$p" 2>/dev/null && r ESCAPED "killed $p"; done; r BLOCKED "kill -9 failed for $*" ;;
  victim_environ) for p; do grep -q WASMJOBS_VICTIM_SECRET "/proc/$p/environ" 2>/dev/null && r ESCAPED "read the secret of $p"; done; r BLOCKED "no environ readable" ;;
  setuid_file) f="$1/suid"; : > "$f"; out=$(chmod 4755 "$f" 2>&1) && [ -u "$f" ] && r ESCAPED "made a setuid file"; exec ./probe "$c" "$@" ;;
  daemon_holds_stdout) setsid sleep 30 & r INFO "left a setsid sleep holding stdout" ;;
  unshare_userns) out=$(unshare -U true 2>&1) && r ESCAPED "unshare -U worked" || r BLOCKED "$out" ;;
  daemonize)
    setsid bash -c 'for i in $(seq 40); do echo $i > "$0/heartbeat"; sleep 0.25; done' "$1" </dev/null >/dev/null 2>&1 &
    disown; r INFO "started a setsid daemon" ;;
  *) exec ./probe "$c" "$@" ;;
esac
