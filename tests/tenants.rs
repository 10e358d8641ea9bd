//! `wasmjobs tenant`: secrets shown once and stored only as argon2 hashes.

mod common;

use common::Env;

#[test]
fn tenant_secrets_are_shown_once_and_stored_hashed() {
    let env = Env::new();
    let secret = env.run(&["tenant", "add", "acme"]).ok().stdout();
    let secret = secret.trim();
    assert_eq!(secret.len(), 64, "{secret}");
    let record = std::fs::read_to_string(env.root().join("tenants/acme/tenant.json")).unwrap();
    assert!(!record.contains(secret), "the secret is stored in clear");
    assert!(record.contains("$argon2id$"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.root().join("tenants/acme/tenant.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the record is readable by others");
    let list = env.run(&["tenant", "list"]).ok().stdout();
    assert!(list.contains("acme") && !list.contains(secret), "{list}");
    let again = env.run(&["tenant", "add", "acme"]).fails();
    assert!(
        again.stderr().contains("already exists"),
        "{}",
        again.stderr()
    );
    let rotated = env.run(&["tenant", "rotate", "acme"]).ok().stdout();
    assert_ne!(rotated.trim(), secret);
    let bad = env.run(&["tenant", "add", "../x"]).fails();
    assert!(bad.stderr().contains("invalid"), "{}", bad.stderr());
    env.run(&["tenant", "remove", "acme"]).ok();
    assert!(!env.root().join("tenants/acme").exists());
    env.run(&["tenant", "remove", "acme"]).fails();
}
