//! Writing an output never destroys what the user had at the path: links are followed,
//! hard links kept, devices and fifos written to rather than replaced, modes kept, and
//! temporary files cleaned up. These run as root (as CI does) where mknod needs it.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use xorgpu::files::{check_writable, write_atomically};

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_symlink_is_followed_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("model.json");
    fs::write(&target, "old").unwrap();
    let link = dir.path().join("latest.json");
    std::os::unix::fs::symlink("model.json", &link).unwrap();
    write_atomically(&link, b"new").unwrap();
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is still a link");
    assert_eq!(fs::read_to_string(&target).unwrap(), "new", "its target has the new content");

    // A chain of links, and a dangling one, which the write then fills.
    let chain = dir.path().join("chain.json");
    std::os::unix::fs::symlink(&link, &chain).unwrap();
    write_atomically(&chain, b"newer").unwrap();
    assert_eq!(fs::read_to_string(&target).unwrap(), "newer");
    let dangling = dir.path().join("dangling.json");
    std::os::unix::fs::symlink("sub/not-yet.json", &dangling).unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    write_atomically(&dangling, b"made").unwrap();
    assert!(fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_to_string(dir.path().join("sub/not-yet.json")).unwrap(), "made");
}

#[test]
fn a_link_loop_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    assert!(write_atomically(&a, b"x").is_err());
    assert!(check_writable(&a).is_err());
}

#[test]
fn hard_links_all_see_the_new_content() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.json");
    let two = dir.path().join("two.json");
    fs::write(&one, "old content, longer than the new").unwrap();
    fs::hard_link(&one, &two).unwrap();
    let inode = fs::metadata(&one).unwrap().ino();
    write_atomically(&one, b"new").unwrap();
    assert_eq!(fs::read_to_string(&two).unwrap(), "new");
    assert_eq!(fs::metadata(&one).unwrap().ino(), inode, "the same file, written in place");
    assert_eq!(fs::metadata(&two).unwrap().nlink(), 2);
}

#[test]
fn a_file_keeps_its_mode_and_a_new_one_gets_a_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private.json");
    fs::write(&private, "old").unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o600)).unwrap();
    write_atomically(&private, b"new").unwrap();
    assert_eq!(mode(&private), 0o600);
    assert_eq!(fs::read_to_string(&private).unwrap(), "new");
    let open = dir.path().join("open.json");
    fs::write(&open, "old").unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o664)).unwrap();
    write_atomically(&open, b"new").unwrap();
    assert_eq!(mode(&open), 0o664);
    let plain = dir.path().join("plain");
    fs::File::create(&plain).unwrap();
    let fresh = dir.path().join("fresh.json");
    write_atomically(&fresh, b"{}").unwrap();
    assert_eq!(mode(&fresh), mode(&plain));
}

#[test]
fn a_fifo_is_written_to_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success(), "mkfifo");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read_to_string(fifo).unwrap())
    };
    write_atomically(&fifo, b"through the pipe").unwrap();
    assert_eq!(reader.join().unwrap(), "through the pipe");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "still a fifo");
}

/// A character device made in a temporary folder (the null device's numbers), never the
/// system's own: writing to it leaves it a device.
#[test]
fn a_device_is_written_to_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("null");
    let made = Command::new("mknod").arg(&dev).args(["c", "1", "3"]).status().unwrap();
    assert!(made.success(), "mknod needs root, which the tests run as (CI does)");
    fs::set_permissions(&dev, fs::Permissions::from_mode(0o666)).unwrap();
    check_writable(&dev).unwrap();
    write_atomically(&dev, b"discarded").unwrap();
    let meta = fs::symlink_metadata(&dev).unwrap();
    assert!(meta.file_type().is_char_device(), "still a device");
    assert_eq!(meta.rdev(), fs::metadata("/dev/null").unwrap().rdev());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "nothing else was made");
}

#[test]
fn a_folder_or_an_impossible_name_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let e = check_writable(dir.path()).unwrap_err().to_string();
    assert!(e.contains("folder"), "{e}");
    let long = dir.path().join("x".repeat(300));
    let e = check_writable(&long).unwrap_err().to_string();
    assert!(e.contains("cannot write"), "{e}");
    // A name as long as the file system allows is fine: the temporary name is cut short.
    let longest = dir.path().join("y".repeat(255));
    check_writable(&longest).unwrap();
    write_atomically(&longest, b"ok").unwrap();
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
}

/// A temporary file left by a writer that was killed outright is removed by the next write
/// to the same name; a live writer's (this process's pid) is not.
#[test]
fn stale_temporary_files_are_removed_and_live_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    // Above any pid Linux hands out (at most 2^22).
    let stale = dir.path().join(".out.json.999999999.0.xorgpu-tmp");
    let live = dir.path().join(format!(".out.json.{}.987654.xorgpu-tmp", std::process::id()));
    let other = dir.path().join(".other.json.999999999.0.xorgpu-tmp");
    for f in [&stale, &live, &other] {
        fs::write(f, "partial").unwrap();
    }
    write_atomically(&out, b"{}").unwrap();
    assert!(!stale.exists(), "a dead writer's temporary file is removed");
    assert!(live.exists(), "a live writer's is kept");
    assert!(other.exists(), "another output's is not this write's business");
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 3, "{left:?}");
}
