/*
 * Escape probe for the native sandbox battery (tests/escape.rs).
 *
 *   probe CASE [ARGS...]
 *
 * Prints one line "RESULT CASE BLOCKED|ESCAPED|CONTAINED|INFO detail" unless
 * the process is killed first (the host then reports that). Every case is
 * bounded so it is harmless even unsandboxed: no real kill(-1), a counted
 * fork loop, a sparse big file, environ files are checked, never printed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *tc;

static void res(const char *verdict, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printf("RESULT %s %s %s\n", tc, verdict, buf);
    fflush(stdout);
    exit(0);
}
#define BLOCKED(...) res("BLOCKED", __VA_ARGS__)
#define ESCAPED(...) res("ESCAPED", __VA_ARGS__)

static const char *arg(int argc, char **argv, int i) {
    if (i >= argc) { fprintf(stderr, "%s: missing argument %d\n", tc, i); exit(2); }
    return argv[i];
}

static void read_file(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) BLOCKED("open %s: %s", path, strerror(errno));
    char b[256];
    ssize_t n = read(fd, b, sizeof b);
    if (n < 0) BLOCKED("read %s: %s", path, strerror(errno));
    ESCAPED("read %zd bytes of %s", n, path);
}

static void list_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) BLOCKED("opendir %s: %s", path, strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    ESCAPED("listed %d entries of %s", n, path);
}

static void write_file(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) BLOCKED("create %s: %s", path, strerror(errno));
    if (write(fd, "pwned\n", 6) != 6) BLOCKED("write: %s", strerror(errno));
    ESCAPED("wrote %s", path);
}


int main(int argc, char **argv) {
    char path[4096];
    if (argc < 2) { fprintf(stderr, "usage: probe CASE [ARGS]\n"); return 2; }
    tc = argv[1];
    if (!strcmp(tc, "read_shadow")) read_file("/etc/shadow");
    if (!strcmp(tc, "list_root")) list_dir("/root");
    if (!strcmp(tc, "list_outside")) list_dir(arg(argc, argv, 2));
    if (!strcmp(tc, "read_other_job")) read_file(arg(argc, argv, 2));
    if (!strcmp(tc, "write_outside")) {
        snprintf(path, sizeof path, "%s/escape-probe", arg(argc, argv, 2));
        write_file(path);
    }
    if (!strcmp(tc, "symlink_read")) {
        unlink("etclink");
        if (symlink("/etc", "etclink")) BLOCKED("symlink: %s", strerror(errno));
        read_file("etclink/shadow");
    }
    if (!strcmp(tc, "symlink_write")) {
        unlink("outlink");
        if (symlink(arg(argc, argv, 2), "outlink")) BLOCKED("symlink: %s", strerror(errno));
        write_file("outlink/escape-symlink");
    }
    if (!strcmp(tc, "tcp_connect") || !strcmp(tc, "tcp_bind") || !strcmp(tc, "udp_send")) {
        int udp = !strcmp(tc, "udp_send");
        int s = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
        if (s < 0) BLOCKED("socket: %s", strerror(errno));
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons(atoi(arg(argc, argv, 2)));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (!strcmp(tc, "tcp_bind")) {
            a.sin_addr.s_addr = htonl(INADDR_ANY);
            int one = 1;
            setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (bind(s, (void *)&a, sizeof a)) BLOCKED("bind: %s", strerror(errno));
            if (listen(s, 5)) BLOCKED("listen: %s", strerror(errno));
            printf("listening\n"); fflush(stdout);
            sleep(3);
            res("INFO", "bound and listened on port %s for 3 s", argv[2]);
        }
        if (udp) {
            if (sendto(s, "udp-escape", 10, 0, (void *)&a, sizeof a) < 0) BLOCKED("sendto: %s", strerror(errno));
            res("INFO", "sent a datagram");
        }
        if (connect(s, (void *)&a, sizeof a)) BLOCKED("connect: %s", strerror(errno));
        ESCAPED("connected to 127.0.0.1:%s", argv[2]);
    }
    if (!strcmp(tc, "abstract_unix")) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        if (s < 0) BLOCKED("socket: %s", strerror(errno));
        struct sockaddr_un a = {0};
        a.sun_family = AF_UNIX;
        const char *name = arg(argc, argv, 2);
        size_t n = strlen(name);
        memcpy(a.sun_path + 1, name, n);
        if (connect(s, (void *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + n))
            BLOCKED("connect: %s", strerror(errno));
        ESCAPED("connected to the host's abstract socket @%s", name);
    }
    if (!strcmp(tc, "host_unix")) {
        /* Each argument is a host pathname socket; a PostgreSQL that trusts
           local connections gets a startup message and a CREATE TABLE. */
        static const char startup[] = "\0\0\0\x29\0\x03\0\0user\0wasmjobs\0database\0postgres\0\0";
        static const char query[] = "Q\0\0\0\x24" "CREATE TABLE escaped_elf(x int)";
        char seen[1024] = "";
        for (int i = 2; i < argc; i++) {
            int s = socket(AF_UNIX, SOCK_STREAM, 0);
            if (s < 0) BLOCKED("socket: %s", strerror(errno));
            struct sockaddr_un a = {0};
            a.sun_family = AF_UNIX;
            strncpy(a.sun_path, argv[i], sizeof a.sun_path - 1);
            if (connect(s, (void *)&a, sizeof a) == 0) {
                write(s, startup, sizeof startup - 1);
                write(s, query, sizeof query);
                sleep(1);
                ESCAPED("connected to %s", argv[i]);
            }
            snprintf(seen + strlen(seen), sizeof seen - strlen(seen), "%s: %s; ", argv[i], strerror(errno));
            close(s);
        }
        BLOCKED("%s", seen);
    }
    if (!strcmp(tc, "fork_bomb")) {
        int ok = 0, err = 0;
        for (int i = 0; i < 1000; i++) {
            pid_t p = fork();
            if (p < 0) { err = errno; break; }
            if (p == 0) { sleep(3); _exit(0); }
            ok++;
        }
        if (ok >= 1000) ESCAPED("forked 1000/1000");
        BLOCKED("forked %d/1000, then %s", ok, strerror(err));
    }
    if (!strcmp(tc, "mem_4g")) {
        size_t n = (size_t)4 << 30;
        char *p = malloc(n);
        if (!p) BLOCKED("malloc 4 GiB: %s", strerror(errno));
        for (size_t i = 0; i < n; i += 4096) p[i] = 1;
        ESCAPED("allocated and touched 4 GiB");
    }
    if (!strcmp(tc, "cpu_loop")) {
        volatile unsigned long i = 0;
        for (;;) i++;
    }
    if (!strcmp(tc, "fsize_10g")) {
        signal(SIGXFSZ, SIG_IGN);
        snprintf(path, sizeof path, "%s/big.bin", arg(argc, argv, 2));
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) BLOCKED("open: %s", strerror(errno));
        static char chunk[1 << 20];
        memset(chunk, 'z', sizeof chunk);
        for (int i = 0; i < 128; i++)
            if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
                BLOCKED("stream write stopped at %d MiB: %s", i, strerror(errno));
        if (pwrite(fd, "!", 1, ((off_t)10 << 30) - 1) != 1) BLOCKED("sparse 10 GiB write: %s", strerror(errno));
        ESCAPED("wrote a 10 GiB file");
    }
    if (!strcmp(tc, "kill_victim") || !strcmp(tc, "ptrace_victim") || !strcmp(tc, "victim_environ")) {
        int hits = 0;
        char what[4200] = "";
        for (int i = 2; i < argc; i++) {
            int pid = atoi(argv[i]);
            if (!strcmp(tc, "kill_victim")) {
                if (kill(pid, SIGKILL) == 0) { hits++; snprintf(what, sizeof what, "SIGKILLed %d", pid); }
                else snprintf(what, sizeof what, "kill %d: %s", pid, strerror(errno));
            } else if (!strcmp(tc, "ptrace_victim")) {
                if (ptrace(PTRACE_ATTACH, pid, 0, 0) == 0) {
                    hits++; waitpid(pid, 0, __WALL); ptrace(PTRACE_DETACH, pid, 0, 0);
                    snprintf(what, sizeof what, "attached to %d", pid);
                } else snprintf(what, sizeof what, "ptrace %d: %s", pid, strerror(errno));
            } else {
                snprintf(path, sizeof path, "/proc/%d/environ", pid);
                int fd = open(path, O_RDONLY);
                if (fd >= 0) {
                    char b[8192];
                    ssize_t n = read(fd, b, sizeof b - 1);
                    if (n > 0 && memmem(b, n, "WASMJOBS_VICTIM_SECRET=", 23)) { hits++; snprintf(what, sizeof what, "read the secret of %d", pid); }
                    else snprintf(what, sizeof what, "opened %d's environ, no secret", pid);
                } else snprintf(what, sizeof what, "open %s: %s", path, strerror(errno));
            }
        }
        if (hits) ESCAPED("%s", what);
        BLOCKED("%s", what);
    }
    if (!strcmp(tc, "kill_all_sim")) {
        /* kill(-1, 0): could we signal anything outside our own session? */
        DIR *d = opendir("/proc");
        int can = 0, seen = 0, me = getpid();
        struct dirent *e;
        while (d && (e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid == me || getsid(pid) == getsid(0)) continue;
            seen++;
            if (kill(pid, 0) == 0) can++;
        }
        if (can) ESCAPED("could signal %d of %d foreign processes", can, seen);
        BLOCKED("could signal none of %d foreign processes", seen);
    }
    if (!strcmp(tc, "proc1_environ")) {
        char comm[64] = "?";
        int c = open("/proc/1/comm", O_RDONLY);
        if (c >= 0) { ssize_t n = read(c, comm, sizeof comm - 1); if (n > 0) comm[n - 1] = 0; }
        int fd = open("/proc/1/environ", O_RDONLY);
        if (fd < 0) BLOCKED("open /proc/1/environ: %s (pid 1 is %s)", strerror(errno), comm);
        char b[64];
        if (read(fd, b, sizeof b) < 0) BLOCKED("read /proc/1/environ: %s (pid 1 is %s)", strerror(errno), comm);
        /* PID 1 is the sandbox's own init inside a pid namespace. */
        res(!strncmp(comm, "wasmjobs", 8) ? "CONTAINED" : "ESCAPED", "read /proc/1/environ of '%s'", comm);
    }
    if (!strcmp(tc, "setuid_file")) {
        /* Every way to make a setuid or setgid file: chmod, open(O_CREAT)
         * and creat with the bits in the mode, mknod, openat2. */
        const char *dir = arg(argc, argv, 2);
        char what[512] = "";
        struct stat st;
        snprintf(path, sizeof path, "%s/suid-chmod", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
        if (fd >= 0) { close(fd); chmod(path, 04755); }
        snprintf(path, sizeof path, "%s/suid-open", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 04755);
        if (fd >= 0) close(fd);
        snprintf(path, sizeof path, "%s/sgid-creat", dir);
        fd = creat(path, 02755);
        if (fd >= 0) close(fd);
        snprintf(path, sizeof path, "%s/suid-mknod", dir);
        mknod(path, S_IFREG | 06755, 0);
        snprintf(path, sizeof path, "%s/suid-openat2", dir);
        struct { unsigned long long flags, mode, resolve; } how = { O_WRONLY | O_CREAT, 04755, 0 };
        fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
        if (fd >= 0) close(fd);
        const char *names[] = {"suid-chmod", "suid-open", "sgid-creat", "suid-mknod", "suid-openat2"};
        for (int i = 0; i < 5; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            if (stat(path, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID))) {
                strncat(what, names[i], sizeof what - strlen(what) - 2);
                strcat(what, " ");
            }
        }
        if (what[0]) ESCAPED("made setuid/setgid files: %s", what);
        BLOCKED("no setuid or setgid file could be made");
    }
    if (!strcmp(tc, "daemon_holds_stdout")) {
        /* A daemon that keeps the run's output open: the run must still end. */
        pid_t p = fork();
        if (p < 0) BLOCKED("fork: %s", strerror(errno));
        if (p == 0) {
            setsid();
            if (fork()) _exit(0);
            sleep(30);
            _exit(0);
        }
        waitpid(p, 0, 0);
        res("INFO", "left a setsid daemon holding stdout");
    }
    if (!strcmp(tc, "daemonize")) {
        snprintf(path, sizeof path, "%s/heartbeat", arg(argc, argv, 2));
        pid_t p = fork();
        if (p < 0) BLOCKED("fork: %s", strerror(errno));
        if (p == 0) {
            setsid();
            if (fork()) _exit(0);
            close(0); close(1); close(2);
            for (int i = 0; i < 40; i++) {
                int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (fd >= 0) { char b[32]; int n = snprintf(b, sizeof b, "%d\n", i); write(fd, b, n); close(fd); }
                usleep(250000);
            }
            _exit(0);
        }
        waitpid(p, 0, 0);
        res("INFO", "started a double-forked setsid daemon writing %s", path);
    }
    if (!strcmp(tc, "unshare_userns")) {
        if (unshare(CLONE_NEWUSER) == 0) ESCAPED("created a user namespace");
        BLOCKED("unshare(CLONE_NEWUSER): %s", strerror(errno));
    }
    if (!strcmp(tc, "clone3_namespace")) {
        /* clone3's flags are out of the filter's sight: it must be ENOSYS
         * (libc then falls back to clone, whose flags are checked). */
        struct { unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls; } args = {0};
        args.flags = CLONE_NEWUSER;
        args.exit_signal = SIGCHLD;
        long r = syscall(SYS_clone3, &args, sizeof args);
        if (r == 0) _exit(0);
        if (r > 0) { waitpid(r, 0, 0); ESCAPED("clone3(CLONE_NEWUSER) made a child in a new user namespace"); }
        if (errno == ENOSYS) BLOCKED("clone3: ENOSYS");
        ESCAPED("clone3 reached the kernel: %s", strerror(errno));
    }
    if (!strcmp(tc, "dangerous_syscalls")) {
        struct { const char *name; long nr; long a, b, c, d, e; } sc[] = {
            {"bpf", SYS_bpf, 0, 0, 0, 0, 0},
            {"perf_event_open", SYS_perf_event_open, 0, 0, -1, -1, 0},
            {"keyctl", SYS_keyctl, 0, 0, 0, 0, 0},
            {"io_uring_setup", SYS_io_uring_setup, 1, 0, 0, 0, 0},
            {"userfaultfd", SYS_userfaultfd, 0, 0, 0, 0, 0},
            {"mount", SYS_mount, 0, 0, 0, 0, 0},
            {"add_key", SYS_add_key, 0, 0, 0, 0, 0},
            {"setns", SYS_setns, -1, 0, 0, 0, 0},
        };
        char reach[512] = "";
        for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
            errno = 0;
            long r = syscall(sc[i].nr, sc[i].a, sc[i].b, sc[i].c, sc[i].d, sc[i].e);
            int e = errno;
            if (r >= 0 || (e != EPERM && e != ENOSYS && e != EACCES)) {
                strncat(reach, sc[i].name, sizeof reach - strlen(reach) - 2);
                strcat(reach, " ");
            }
        }
        if (reach[0]) ESCAPED("reachable: %s", reach);
        BLOCKED("all EPERM/ENOSYS/EACCES");
    }
    fprintf(stderr, "unknown case %s\n", tc);
    return 2;
}
