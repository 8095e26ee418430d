//! The serial console is interactive: commands typed on xlat's stdin run
//! in the guest's busybox shell, and Ctrl-A x quits. Boots Debian's amd64
//! kernel with the shell initramfs from scripts/fetch-linux-guests.sh (CI
//! runs it first); without the images this test fails and says so.

use super::console::Session;

use std::time::Duration;

#[test]
fn typed_commands_run_in_the_busybox_shell_and_ctrl_a_x_quits() {
    let mut s = Session::start("vmlinuz-amd64", "initramfs-shell-amd64.cpio.gz", &[]);
    let boot_limit = Duration::from_secs(30 * 60);
    let at = s.expect(0, "busybox shell", boot_limit);
    let at = s.expect(at, "# ", Duration::from_secs(300));
    // Arithmetic the shell must evaluate: the echo of the typed line
    // shows "$((6*7))", only the command's output shows 42.
    s.type_text("echo typed-$((6*7)); uname -m\r");
    let at = s.expect(at, "typed-42", Duration::from_secs(300));
    let at = s.expect(at, "x86_64", Duration::from_secs(300));
    s.expect(at, "# ", Duration::from_secs(300));
    // QEMU's escape: Ctrl-A x ends the emulator with status 0.
    s.type_text("\x01x");
    let status = s.wait_exit(Duration::from_secs(300));
    assert!(status.success(), "xlat exited with {status}");
    assert!(
        s.stderr().contains("xlat: quit from the console"),
        "xlat did not end through Ctrl-A x; stderr:\n{}",
        s.stderr()
    );
}
