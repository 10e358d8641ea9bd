//! What an `.exe` (or an extensionless entry) is, from its first bytes:
//! WebJobs' `run.exe` maps to an ELF executable for this machine on Linux,
//! and entry discovery and deploy checks tell it from a Windows (PE) file
//! or anything else.

use std::path::Path;

/// What an `.exe` (or extensionless) file is, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executable {
    /// An ELF executable for this machine.
    Elf,
    /// An ELF file for another machine (the `e_machine` found).
    ElfOtherMachine(u16),
    /// A Windows (PE, `MZ`) executable.
    Windows,
    /// Anything else.
    Other,
}

/// The ELF `e_machine` of this build's target.
const HOST_MACHINE: u16 = if cfg!(target_arch = "aarch64") {
    183
} else {
    62
};

/// Sniffs a file's header.
pub fn sniff(path: &Path) -> std::io::Result<Executable> {
    use std::io::Read;
    let mut head = [0u8; 20];
    let mut f = std::fs::File::open(path)?;
    let n = f.read(&mut head)?;
    let head = &head[..n];
    Ok(if head.starts_with(b"\x7fELF") && n >= 20 {
        let machine = u16::from_le_bytes([head[18], head[19]]);
        if machine == HOST_MACHINE {
            Executable::Elf
        } else {
            Executable::ElfOtherMachine(machine)
        }
    } else if head.starts_with(b"MZ") {
        Executable::Windows
    } else {
        Executable::Other
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_headers() {
        let d = tempfile::tempdir().unwrap();
        let pe = d.path().join("a.exe");
        std::fs::write(&pe, b"MZ\x90\0rest").unwrap();
        assert_eq!(sniff(&pe).unwrap(), Executable::Windows);
        assert_eq!(sniff(Path::new("/bin/true")).unwrap(), Executable::Elf);
        let txt = d.path().join("run");
        std::fs::write(&txt, b"#!/bin/sh\n").unwrap();
        assert_eq!(sniff(&txt).unwrap(), Executable::Other);
    }
}
