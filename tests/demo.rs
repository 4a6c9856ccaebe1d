//! The README's run command works: `dev/demo` carries a policy edit and a decision through
//! Kafka, the joiner and the S3 sink, and prints every step.

use std::path::Path;
use std::process::Command;

#[test]
fn the_run_command_shows_a_decision_joined_and_delivered_to_s3() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("dev/demo"))
        .current_dir(root)
        .output()
        .expect("dev/demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dev/demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in ["1. ", "2. ", "3. ", "4. the S3 sink delivered it to s3://"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(step)),
            "no step '{step}' in:\n{stdout}"
        );
    }
    assert!(stdout.contains("\"join_status\": \"JOINED\""), "{stdout}");
    assert!(stdout.contains("\"actor_id\": \"admin-bob\""), "{stdout}");
}
