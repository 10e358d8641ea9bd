import java.io.RandomAccessFile;
import java.net.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;

/** Escape battery, Java side: Java attempts what it can express; the rest runs the shipped probe. */
public class Escape {
    static String c;

    static void r(String verdict, String detail) {
        System.out.println("RESULT " + c + " " + verdict + " " + detail.replace('\n', ' '));
        System.exit(0);
    }

    public static void main(String[] argv) throws Exception {
        c = argv[0];
        String[] a = Arrays.copyOfRange(argv, 1, argv.length);
        try {
            switch (c) {
                case "read_shadow" -> { Files.readAllBytes(Paths.get("/etc/shadow")); r("ESCAPED", "read /etc/shadow"); }
                case "list_root" -> { try (var s = Files.list(Paths.get("/root"))) { r("ESCAPED", s.count() + " entries"); } }
                case "list_outside" -> { try (var s = Files.list(Paths.get(a[0]))) { r("ESCAPED", s.map(Path::toString).toList().toString()); } }
                case "read_other_job" -> r("ESCAPED", Files.readString(Paths.get(a[0])));
                case "write_outside" -> { Files.writeString(Paths.get(a[0], "escape-java"), "pwned"); r("ESCAPED", "wrote"); }
                case "symlink_read" -> {
                    Path l = Paths.get("etclink"); Files.deleteIfExists(l); Files.createSymbolicLink(l, Paths.get("/etc"));
                    Files.readAllBytes(l.resolve("shadow")); r("ESCAPED", "read via a symlink");
                }
                case "symlink_write" -> {
                    Path l = Paths.get("outlink"); Files.deleteIfExists(l); Files.createSymbolicLink(l, Paths.get(a[0]));
                    Files.writeString(l.resolve("escape-java-link"), "pwned"); r("ESCAPED", "wrote via a symlink");
                }
                case "tcp_connect" -> {
                    try (Socket s = new Socket()) { s.connect(new InetSocketAddress("127.0.0.1", Integer.parseInt(a[0])), 1000); r("ESCAPED", "connected"); }
                }
                case "tcp_bind" -> {
                    try (ServerSocket s = new ServerSocket(Integer.parseInt(a[0]))) { System.out.println("listening"); Thread.sleep(3000); r("INFO", "listened for 3 s"); }
                }
                case "udp_send" -> {
                    try (DatagramSocket s = new DatagramSocket()) {
                        byte[] b = "udp-escape".getBytes(StandardCharsets.UTF_8);
                        s.send(new DatagramPacket(b, b.length, InetAddress.getByName("127.0.0.1"), Integer.parseInt(a[0])));
                        r("INFO", "sent a datagram");
                    }
                }
                case "host_unix" -> {
                    StringBuilder seen = new StringBuilder();
                    for (String path : a) {
                        try (var ch = java.nio.channels.SocketChannel.open(StandardProtocolFamily.UNIX)) {
                            ch.connect(UnixDomainSocketAddress.of(path));
                            // A PostgreSQL that trusts local connections: log in, create a table.
                            byte[] user = "user\0wasmjobs\0database\0postgres\0\0".getBytes(StandardCharsets.US_ASCII);
                            var startup = java.nio.ByteBuffer.allocate(8 + user.length).putInt(8 + user.length).putInt(196608).put(user).flip();
                            byte[] q = "CREATE TABLE escaped_java(x int)\0".getBytes(StandardCharsets.US_ASCII);
                            var query = java.nio.ByteBuffer.allocate(5 + q.length).put((byte) 'Q').putInt(4 + q.length).put(q).flip();
                            ch.write(startup); ch.write(query); Thread.sleep(1000);
                            r("ESCAPED", "connected to " + path);
                        } catch (java.io.IOException e) {
                            seen.append(path).append(": ").append(e).append("; ");
                        }
                    }
                    r("BLOCKED", seen.toString());
                }
                case "mem_4g" -> {
                    List<byte[]> hold = new ArrayList<>();
                    for (int i = 0; i < 4096; i++) hold.add(new byte[1 << 20]);
                    r("ESCAPED", "allocated 4 GiB");
                }
                case "cpu_loop" -> { long i = 0; while (true) { i++; if (i == Long.MIN_VALUE) System.out.print(""); } }
                case "fsize_10g" -> {
                    try (RandomAccessFile f = new RandomAccessFile(a[0] + "/big.bin", "rw")) {
                        byte[] chunk = new byte[1 << 20];
                        for (int i = 0; i < 128; i++) f.write(chunk);
                        f.seek((10L << 30) - 1); f.write(1);
                        r("ESCAPED", "wrote a 10 GiB file");
                    }
                }
                case "kill_victim" -> {
                    for (String p : a) {
                        Optional<ProcessHandle> h = ProcessHandle.of(Long.parseLong(p));
                        if (h.isPresent() && h.get().destroyForcibly()) r("ESCAPED", "killed " + p);
                    }
                    r("BLOCKED", "no victim visible or killable");
                }
                case "victim_environ" -> {
                    for (String p : a) {
                        try {
                            String e = new String(Files.readAllBytes(Paths.get("/proc", p, "environ")), StandardCharsets.ISO_8859_1);
                            if (e.contains("WASMJOBS_VICTIM_SECRET=")) r("ESCAPED", "read the secret of " + p);
                        } catch (Exception e) { /* next */ }
                    }
                    r("BLOCKED", "no environ readable");
                }
                default -> {
                    List<String> cmd = new ArrayList<>(List.of("./probe", c));
                    cmd.addAll(Arrays.asList(a));
                    Process p = new ProcessBuilder(cmd).inheritIO().start();
                    System.exit(p.waitFor());
                }
            }
        } catch (Throwable t) {
            r("BLOCKED", t.toString());
        }
    }
}
