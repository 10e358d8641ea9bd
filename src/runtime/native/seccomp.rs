//! The seccomp layer: a deny-list compiled to BPF in the parent (crate
//! `seccompiler`, which also kills any other syscall ABI, such as 32-bit
//! `int 0x80` calls); the child only installs it.
//!
//! A deny-list, because jobs run open-ended interpreters (bash, php, the
//! JVM, native programs) whose syscall sets cannot be listed in advance.

use std::collections::BTreeMap;

use anyhow::Result;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch, sock_filter,
};

/// Syscalls no job may make (they fail with EPERM): kernel attack surface
/// (bpf, perf, keyrings, io_uring, userfaultfd), namespace and mount
/// control, tracing other processes, and host-wide settings.
const DENIED: &[i64] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_syslog,
    libc::SYS_userfaultfd,
    // io_uring operations bypass seccomp: deny the whole interface.
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_quotactl,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_vhangup,
    libc::SYS_fanotify_init,
    libc::SYS_kcmp,
    libc::SYS_pidfd_getfd,
    libc::SYS_mount_setattr,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_lookup_dcookie,
    libc::SYS_uselib,
    libc::SYS_modify_ldt,
];

/// `clone` flags that create namespaces (CLONE_NEWTIME included).
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
    0x80,
];

/// `fchmodat2` (Linux 6.6), not yet in every libc.
const SYS_FCHMODAT2: i64 = 452;

fn cond(arg: u8, len: Len, op: Op, v: u64) -> Result<SeccompCondition> {
    Ok(SeccompCondition::new(arg, len, op, v)?)
}

/// [`build`], compiled once per process for each `deny_inet`.
pub fn cached(deny_inet: bool) -> Result<Vec<BpfProgram>> {
    static CACHE: std::sync::OnceLock<[Vec<BpfProgram>; 2]> = std::sync::OnceLock::new();
    if let Some(c) = CACHE.get() {
        return Ok(c[usize::from(deny_inet)].clone());
    }
    let both = [build(false)?, build(true)?];
    let _ = CACHE.set(both);
    Ok(CACHE.get().expect("set above")[usize::from(deny_inet)].clone())
}

/// The filter to install: the deny-list, and `clone3` → ENOSYS (its flags
/// live in memory the filter cannot read, so libc falls back to `clone`,
/// whose flags it can). `deny_inet` also refuses sockets of any family but
/// AF_UNIX.
pub fn build(deny_inet: bool) -> Result<Vec<BpfProgram>> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for nr in DENIED {
        rules.insert(*nr, vec![]);
    }
    let mut clone = Vec::new();
    for f in NAMESPACE_FLAGS {
        clone.push(SeccompRule::new(vec![cond(
            0,
            Len::Qword,
            Op::MaskedEq(*f),
            *f,
        )?])?);
    }
    rules.insert(libc::SYS_clone, clone);
    // No setuid or setgid files.
    let special_bits = |arg: u8| -> Result<Vec<SeccompRule>> {
        Ok(vec![
            SeccompRule::new(vec![cond(arg, Len::Dword, Op::MaskedEq(0o4000), 0o4000)?])?,
            SeccompRule::new(vec![cond(arg, Len::Dword, Op::MaskedEq(0o2000), 0o2000)?])?,
        ])
    };
    rules.insert(libc::SYS_chmod, special_bits(1)?);
    rules.insert(libc::SYS_fchmod, special_bits(1)?);
    rules.insert(libc::SYS_fchmodat, special_bits(2)?);
    rules.insert(SYS_FCHMODAT2, special_bits(2)?);
    rules.insert(libc::SYS_creat, special_bits(1)?);
    rules.insert(libc::SYS_mknod, special_bits(1)?);
    rules.insert(libc::SYS_mknodat, special_bits(2)?);
    // Files created setuid/setgid through open: the mode counts only with
    // O_CREAT or O_TMPFILE. (openat2 keeps its mode in memory the filter
    // cannot read: it gets ENOSYS, see below.)
    let creating = |flags: u8, mode: u8| -> Result<Vec<SeccompRule>> {
        let mut v = Vec::new();
        for create in [libc::O_CREAT as u64, libc::O_TMPFILE as u64] {
            for bit in [0o4000u64, 0o2000] {
                v.push(SeccompRule::new(vec![
                    cond(flags, Len::Dword, Op::MaskedEq(create), create)?,
                    cond(mode, Len::Dword, Op::MaskedEq(bit), bit)?,
                ])?);
            }
        }
        Ok(v)
    };
    rules.insert(libc::SYS_open, creating(1, 2)?);
    rules.insert(libc::SYS_openat, creating(2, 3)?);
    // personality(): only the query and PER_LINUX.
    rules.insert(
        libc::SYS_personality,
        vec![SeccompRule::new(vec![
            cond(0, Len::Dword, Op::Ne, 0)?,
            cond(0, Len::Dword, Op::Ne, 0xffff_ffff)?,
        ])?],
    );
    // No typing into the host's terminal.
    rules.insert(
        libc::SYS_ioctl,
        vec![
            SeccompRule::new(vec![cond(1, Len::Dword, Op::Eq, libc::TIOCSTI)?])?,
            SeccompRule::new(vec![cond(1, Len::Dword, Op::Eq, libc::TIOCLINUX)?])?,
        ],
    );
    if deny_inet {
        rules.insert(
            libc::SYS_socket,
            vec![SeccompRule::new(vec![cond(
                0,
                Len::Dword,
                Op::Ne,
                libc::AF_UNIX as u64,
            )?])?],
        );
    }
    let main: BpfProgram = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch(),
    )?
    .try_into()?;
    Ok(vec![with_clone3_enosys(main)?])
}

/// Puts three checks right after the filter's arch check: x32 system
/// calls (numbers with bit 30 set, which pass the x86_64 arch check) kill
/// the process; `clone3` and `openat2` return ENOSYS (their flags and mode
/// live in memory the filter cannot read, so libc falls back to `clone` and
/// `openat`, which it can). One filter, not three: each filter costs a
/// load and a JIT compile at every spawn.
fn with_clone3_enosys(mut prog: BpfProgram) -> Result<BpfProgram> {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const JA: u16 = 0x05; // BPF_JMP | BPF_JA
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    let kill = op(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS);
    // seccompiler starts with: load arch, jump over the kill if it matches, kill.
    anyhow::ensure!(
        prog.len() > 3 && prog[0].code == LD_W_ABS && prog[0].k == 4 && prog[2] == kill,
        "unexpected seccomp program layout"
    );
    let insert = [
        op(LD_W_ABS, 0, 0, 0),                     // i0: seccomp_data.nr
        op(JGE_K, 4, 0, X32_SYSCALL_BIT),          // i1: x32 → i6
        op(JEQ_K, 2, 0, libc::SYS_clone3 as u32),  // i2: → i5
        op(JEQ_K, 1, 0, libc::SYS_openat2 as u32), // i3: → i5
        op(JA, 0, 0, 2),                           // i4: → the original program
        op(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32), // i5
        kill,                                      // i6
    ];
    prog.splice(3..3, insert);
    Ok(prog)
}

/// x32 system call numbers have this bit set.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

fn arch() -> TargetArch {
    #[cfg(target_arch = "aarch64")]
    return TargetArch::aarch64;
    #[cfg(not(target_arch = "aarch64"))]
    TargetArch::x86_64
}

/// Whether this kernel can filter syscalls (`CONFIG_SECCOMP_FILTER`).
pub fn available() -> bool {
    // PR_GET_SECCOMP succeeds (0 = not filtered yet) when seccomp is built in.
    // SAFETY: a query with no pointers.
    unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_compile() {
        assert_eq!(super::build(true).unwrap().len(), 1);
        assert_eq!(super::build(false).unwrap().len(), 1);
    }
}
