<?php
// The same CPU-bound loop in every language of the suite.
$s = 0;
for ($i = 0; $i < 5000000; $i++) { $s = ($s + $i * $i) % 1000003; }
echo "loop $s\n";
