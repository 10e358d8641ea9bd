<?php
// A PHP job (native, in the sandbox): totals the invoice lines shipped in
// its bundle and writes the result to its persistent data folder.
$lines = array_map('str_getcsv', file(__DIR__ . '/lines.csv', FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES));
array_shift($lines); // header
$total = 0.0;
foreach ($lines as [$item, $qty, $price]) {
    $sum = (int)$qty * (float)$price;
    $total += $sum;
    printf("%-10s %3d x %7.2f = %8.2f\n", $item, $qty, $price, $sum);
}
printf("total: %.2f (PHP %s, job %s, arguments %s)\n", $total, PHP_VERSION, getenv('WEBJOBS_NAME'), json_encode(array_slice($argv, 1)));
file_put_contents(getenv('WEBJOBS_DATA_PATH') . '/last_total.txt', sprintf("%.2f\n", $total));
