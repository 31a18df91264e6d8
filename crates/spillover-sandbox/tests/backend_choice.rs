//! `SPILLOVER_SANDBOX` picks the backend: an unknown value is a configuration error naming the
//! variable, and `bwrap` without bubblewrap on PATH says how to install it or fall back to the
//! built-in sandbox. (One test in this file, so changing the environment races with nothing.)

use spillover_sandbox::{Sandbox, SandboxConfig, SandboxError, BACKEND_VAR};

#[test]
fn the_backend_variable_is_checked() {
    let python = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 on PATH");
    let python = String::from_utf8_lossy(&python.stdout).trim().to_string();
    let config = || SandboxConfig {
        python: Some(python.clone().into()),
        ..SandboxConfig::default()
    };

    std::env::set_var(BACKEND_VAR, "docker");
    let err = Sandbox::new(config()).unwrap_err();
    assert!(
        matches!(&err, SandboxError::Config { key, .. } if *key == BACKEND_VAR),
        "{err}"
    );
    assert!(err.to_string().contains("`native`"), "{err}");

    std::env::set_var(BACKEND_VAR, "bwrap");
    let path = std::env::var_os("PATH");
    std::env::set_var("PATH", "/nonexistent-spillover-bin");
    let err = Sandbox::new(config()).unwrap_err();
    match path {
        Some(p) => std::env::set_var("PATH", p),
        None => std::env::remove_var("PATH"),
    }
    assert!(matches!(err, SandboxError::BwrapMissing { .. }), "{err}");
    assert!(spillover_errors::UserFixable::user_can_fix(&err));
    assert!(err.to_string().contains("unset SPILLOVER_SANDBOX"), "{err}");

    std::env::set_var(BACKEND_VAR, "native");
    let sb = Sandbox::new(config()).unwrap();
    assert_eq!(sb.backend(), "native");
    std::env::remove_var(BACKEND_VAR);
}
