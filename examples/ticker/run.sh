#!/bin/bash
# A continuous job: kept running by `wasmjobs serve`, it prints a line every
# five seconds and exits cleanly when the host asks it to stop (the file
# named by WEBJOBS_SHUTDOWN_FILE appears).
n=0
while [ ! -e "$WEBJOBS_SHUTDOWN_FILE" ]; do
  n=$((n + 1))
  [ $((n % 50)) -eq 1 ] && echo "tick $(( (n - 1) / 10 ))s"
  sleep 0.1
done
echo "shutdown file seen: exiting cleanly"
