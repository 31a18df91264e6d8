//! The native backend forks its monitor and setup process from the caller, which may hold a
//! model of several GB: that memory is not the program's. A small program run from a caller
//! holding more than the memory limit passes, and its reported peak is its own.

use spillover_sandbox::{Program, Sandbox, SandboxConfig};

#[test]
fn a_large_caller_does_not_count_against_the_program() {
    // 768 MiB resident in this process, over the 512 MiB limit.
    let ballast: Vec<u8> = (0..768usize << 20).map(|i| (i % 251) as u8).collect();
    let sb = Sandbox::new(SandboxConfig::default()).unwrap();
    let programs: Vec<Program> = (0..8)
        .map(|i| {
            Program::new(
                format!("small{i}"),
                "import time\ntime.sleep(0.3)\nprint(1)\n",
            )
        })
        .collect();
    for outcome in sb.run_all(&programs) {
        assert!(outcome.passed, "{outcome:#?}");
        assert!(
            outcome.peak_memory_bytes < 256 << 20,
            "the caller's memory was counted: {outcome:#?}"
        );
    }
    assert_eq!(ballast[1000], (1000 % 251) as u8);
}
