# One download of 10 MiB from the bench's loopback server.
curl -sS -f -o /dev/null "$URL/10m"
echo "downloaded 10 MiB"
