# The same CPU-bound loop in every language of the suite.
s = 0
for i in range(1_000_000):
    s = (s + i * i) % 1000003
print('loop', s)
