# 100 sequential GETs of 1 KiB from the bench's loopback server.
for i in $(seq 100); do
  curl -sS -f -o /dev/null "$URL/1k" || exit 1
done
echo "fetched 100 × 1 KiB"
