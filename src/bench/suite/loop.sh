# The same CPU-bound loop in every language of the suite.
s=0
for ((i = 0; i < 50000; i++)); do s=$(((s + i * i) % 1000003)); done
echo "loop $s"
