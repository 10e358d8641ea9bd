<?php
// Escape battery, PHP side: PHP attempts each case itself (raw system calls
// through FFI); the few it cannot express run the shipped probe.
$c = $argv[1];
$a = array_slice($argv, 2);
function r($v, $d) { global $c; echo "RESULT $c $v " . str_replace("\n", ' ', $d) . "\n"; exit(0); }
function why() { return error_get_last()['message'] ?? 'failed'; }
function sys() { static $f; return $f ??= FFI::cdef("long syscall(long n, ...);"); }
switch ($c) {
  case 'read_shadow': $s = @file_get_contents('/etc/shadow'); $s === false ? r('BLOCKED', why()) : r('ESCAPED', strlen($s) . ' bytes');
  case 'list_root': $d = @scandir('/root'); $d === false ? r('BLOCKED', why()) : r('ESCAPED', count($d) . ' entries');
  case 'list_outside': $d = @scandir($a[0]); $d === false ? r('BLOCKED', why()) : r('ESCAPED', implode(',', $d));
  case 'read_other_job': $s = @file_get_contents($a[0]); $s === false ? r('BLOCKED', why()) : r('ESCAPED', $s);
  case 'write_outside': @file_put_contents("$a[0]/escape-php", "pwned") === false ? r('BLOCKED', why()) : r('ESCAPED', 'wrote');
  case 'symlink_read':
    @unlink('etclink'); @symlink('/etc', 'etclink');
    $s = @file_get_contents('etclink/shadow'); $s === false ? r('BLOCKED', why()) : r('ESCAPED', 'read via a symlink');
  case 'symlink_write':
    @unlink('outlink'); @symlink($a[0], 'outlink');
    @file_put_contents('outlink/escape-php-link', 'pwned') === false ? r('BLOCKED', why()) : r('ESCAPED', 'wrote via a symlink');
  case 'tcp_connect': $s = @fsockopen('127.0.0.1', (int)$a[0], $en, $es, 1.0); $s === false ? r('BLOCKED', "$es ($en)") : r('ESCAPED', 'connected');
  case 'tcp_bind':
    $s = @stream_socket_server("tcp://0.0.0.0:$a[0]", $en, $es);
    if ($s === false) r('BLOCKED', "$es ($en)");
    echo "listening\n"; sleep(3); r('INFO', 'listened for 3 s');
  case 'udp_send':
    $s = @stream_socket_client("udp://127.0.0.1:$a[0]", $en, $es);
    if ($s === false) r('BLOCKED', "$es ($en)");
    @fwrite($s, 'udp-escape') ? r('INFO', 'sent a datagram') : r('BLOCKED', why());
  case 'abstract_unix':
    $s = socket_create(AF_UNIX, SOCK_STREAM, 0);
    @socket_connect($s, "\0" . $a[0]) ? r('ESCAPED', 'connected') : r('BLOCKED', socket_strerror(socket_last_error($s)));
  case 'host_unix':
    $seen = [];
    foreach ($a as $path) {
      $s = socket_create(AF_UNIX, SOCK_STREAM, 0);
      if (@socket_connect($s, $path)) {
        // A PostgreSQL that trusts local connections: log in, create a table.
        @socket_write($s, pack('N', 41) . pack('N', 196608) . "user\0wasmjobs\0database\0postgres\0\0");
        $q = "CREATE TABLE escaped_php(x int)\0";
        @socket_write($s, 'Q' . pack('N', 4 + strlen($q)) . $q);
        sleep(1);
        r('ESCAPED', "connected to $path");
      }
      $seen[] = "$path: " . socket_strerror(socket_last_error($s));
    }
    r('BLOCKED', implode('; ', $seen));
  case 'fork_bomb':
    $ok = 0;
    for ($i = 0; $i < 1000; $i++) { $p = pcntl_fork(); if ($p < 0) break; if ($p == 0) { sleep(3); posix_kill(posix_getpid(), SIGKILL); } $ok++; }
    r($ok >= 1000 ? 'ESCAPED' : 'BLOCKED', "forked $ok/1000: " . pcntl_strerror(pcntl_get_last_error()));
  case 'mem_4g': $s = str_repeat('x', 4 << 30); r('ESCAPED', 'allocated ' . strlen($s));
  case 'cpu_loop': for (;;) {}
  case 'fsize_10g':
    $f = @fopen("$a[0]/big.bin", 'w'); if ($f === false) r('BLOCKED', why());
    $chunk = str_repeat('z', 1 << 20);
    for ($i = 0; $i < 128; $i++) if (@fwrite($f, $chunk) !== strlen($chunk)) r('BLOCKED', "stream write stopped at $i MiB");
    r('ESCAPED', 'wrote 128 MiB');
  case 'kill_victim': foreach ($a as $p) if (@posix_kill((int)$p, SIGKILL)) r('ESCAPED', "killed $p"); r('BLOCKED', posix_strerror(posix_get_last_error()));
  case 'ptrace_victim':
    foreach ($a as $p) if (sys()->syscall(101, 16, (int)$p, 0, 0) == 0) { sys()->syscall(101, 17, (int)$p, 0, 0); r('ESCAPED', "attached to $p"); }
    r('BLOCKED', 'PTRACE_ATTACH failed');
  case 'victim_environ':
    foreach ($a as $p) { $e = @file_get_contents("/proc/$p/environ"); if ($e !== false && str_contains($e, 'WASMJOBS_VICTIM_SECRET=')) r('ESCAPED', "read the secret of $p"); }
    r('BLOCKED', 'no environ readable');
  case 'setuid_file':
    $f = "$a[0]/suid"; touch($f);
    if (!@chmod($f, 04755)) r('BLOCKED', why());
    clearstatcache(); if (fileperms($f) & 04000) r('ESCAPED', 'made a setuid file');
    pcntl_exec('./probe', array_slice($argv, 1)); r('INFO', 'exec of the probe failed: ' . why());
  case 'unshare_userns': sys()->syscall(272, 0x10000000) == 0 ? r('ESCAPED', 'created a user namespace') : r('BLOCKED', 'unshare failed');
  case 'daemonize':
    $p = pcntl_fork();
    if ($p == 0) {
      posix_setsid(); if (pcntl_fork() != 0) exit(0);
      fclose(STDOUT); fclose(STDERR);
      for ($i = 0; $i < 40; $i++) { @file_put_contents("$a[0]/heartbeat", "$i\n"); usleep(250000); }
      exit(0);
    }
    pcntl_waitpid($p, $st); r('INFO', 'started a setsid daemon');
  default: pcntl_exec('./probe', array_slice($argv, 1)); r('INFO', 'exec of the probe failed: ' . why());
}
