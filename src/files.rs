//! Output files, written without destroying what the user had at the path.
//!
//! What a write does depends on what is there, found by following symbolic links to the
//! final target (a link is never replaced by a file; its target is written):
//!
//! - nothing, or a regular file with one link: the bytes go to a temporary file beside it,
//!   which is then renamed over the path, so an earlier file is replaced whole or left
//!   intact. An existing file keeps its permission bits; a new one gets a new file's mode
//!   (0666 less the umask).
//! - a regular file with several hard links: written in place (truncated, then written), so
//!   every link sees the new content. This write is not atomic: an interruption can leave
//!   it short.
//! - anything else (a device such as `/dev/null`, a fifo): written to directly, never
//!   replaced.
//!
//! Temporary files are named `.<name>.<pid>.<n>.xorgpu-tmp` (charts: `….xorgpu-tmp.png`).
//! A signal (Ctrl-C, SIGTERM, SIGHUP) removes the process's own before it exits; one left by
//! a process that was killed outright is removed by the next write to the same name, once
//! its process is gone (never a live writer's on this host; "gone" is read from /proc, so a
//! writer in another PID namespace sharing the folder would look gone, and its own rename
//! would then fail with an error, the target left whole).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::Error;

/// The folder a file at `path` lives in ("." for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Links followed at most before a path counts as a loop (Linux's own limit).
const MAX_LINKS: usize = 40;

/// `path` with every symbolic link at its end followed: the file a write should change.
/// A dangling link resolves to the path it points at (which the write then creates).
pub fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&current)?;
                current = if target.is_absolute() { target } else { folder_of(&current).join(target) };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!("more than {MAX_LINKS} symbolic links")))
}

/// How a write to a resolved path proceeds.
enum Target {
    /// Nothing there: a temporary file renamed into place, with a new file's mode.
    New,
    /// A regular file with one link: the same, keeping its permission bits.
    Replace(fs::Permissions),
    /// A file with several hard links, or not a regular file: written where it is.
    InPlace,
}

fn target_of(path: &Path) -> std::io::Result<Target> {
    match fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Target::New),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => Err(std::io::Error::other("it is a folder")),
        Ok(m) if m.is_file() && links(&m) <= 1 => Ok(Target::Replace(m.permissions())),
        Ok(_) => Ok(Target::InPlace),
    }
}

#[cfg(unix)]
fn links(m: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::nlink(m)
}

#[cfg(not(unix))]
fn links(_: &fs::Metadata) -> u64 {
    1
}

/// Fails early, before any work, when `path` could not be written: a folder there, a name
/// the file system refuses (too long, say), a folder that does not exist or cannot be
/// written to. Changes nothing at the path.
pub fn check_writable(path: &Path) -> Result<(), Error> {
    let fail = |e: std::io::Error| Error::Input(format!("cannot write {}: {e}", path.display()));
    // "out.csv/" names a folder; the write would fail only at the end, after the work.
    if path.as_os_str().to_string_lossy().ends_with(std::path::MAIN_SEPARATOR) {
        return Err(Error::Input(format!(
            "cannot write {}: a file name cannot end in a path separator",
            path.display()
        )));
    }
    let resolved = resolve(path).map_err(fail)?;
    match target_of(&resolved).map_err(fail)? {
        // A file with several links must open for writing; a fifo would block until read,
        // and a device is the user's to name.
        Target::InPlace if resolved.is_file() => {
            OpenOptions::new().write(true).open(&resolved).map_err(fail)?;
        }
        Target::InPlace => {}
        Target::New => {
            TempFile::beside(&resolved, None).map_err(fail)?;
        }
        Target::Replace(_) => {
            may_replace(&resolved).map_err(fail)?;
            TempFile::beside(&resolved, None).map_err(fail)?;
        }
    }
    Ok(())
}

/// Whether this process may change the existing file `path`, as a write to it would need:
/// replacing it goes through a rename, which the folder allows even where the file is
/// read-only, or another user's, and the user's "not writable" must still hold. Opening for
/// writing, without truncating, changes nothing.
fn may_replace(path: &Path) -> std::io::Result<()> {
    OpenOptions::new().write(true).open(path).map(drop)
}

/// Whether `a` and `b` name the same file once symbolic links are followed: the same device
/// and inode where both exist, else the same place (each folder resolved, then the name).
pub fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(a), Ok(b)) = (resolve(a), resolve(b)) else { return false };
    #[cfg(unix)]
    if let (Ok(ma), Ok(mb)) = (fs::metadata(&a), fs::metadata(&b)) {
        use std::os::unix::fs::MetadataExt;
        return ma.dev() == mb.dev() && ma.ino() == mb.ino();
    }
    place(&a) == place(&b)
}

/// Where `path` is, absolute: "." and ".." taken lexically, then the longest existing
/// ancestor resolved and the rest of the name appended, so that two spellings of a file that
/// does not exist yet, in a folder that may not either, compare equal.
fn place(path: &Path) -> Option<PathBuf> {
    let mut lexical = PathBuf::new();
    for part in std::env::current_dir().ok()?.join(path).components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                lexical.pop();
            }
            other => lexical.push(other),
        }
    }
    let mut rest = Vec::new();
    let mut ancestor = lexical.as_path();
    let mut out = loop {
        if let Ok(base) = fs::canonicalize(ancestor) {
            break base;
        }
        rest.push(ancestor.file_name()?);
        ancestor = ancestor.parent()?;
    };
    out.extend(rest.iter().rev());
    Some(out)
}

/// Refuses, before any work, an output that is another output or one of the inputs:
/// `outputs` and `inputs` are (what the user called it, path) pairs.
pub fn check_distinct(outputs: &[(String, &Path)], inputs: &[(String, &Path)]) -> Result<(), Error> {
    for (i, (name, path)) in outputs.iter().enumerate() {
        for (other, other_path) in outputs[i + 1..].iter().chain(inputs) {
            if same_file(path, other_path) {
                return Err(Error::Input(format!(
                    "{name} ({}) and {other} ({}) are the same file; one would destroy the other",
                    path.display(),
                    other_path.display()
                )));
            }
        }
    }
    Ok(())
}

/// Refuses a chart name that does not end in `.png`: the charts are PNG, and a file named
/// `.jpg` holding a PNG would mislead whatever opens it.
pub fn check_png_name(what: &str, path: &Path) -> Result<(), Error> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("png") => Ok(()),
        _ => Err(Error::Input(format!(
            "{what} {}: charts are written as PNG; give the name a .png ending",
            path.display()
        ))),
    }
}

/// Creates the folder `dir` if need be and fails early, before any work, when it cannot be
/// written to. The folders it creates are removed again, if still empty, when the run
/// fails ([`remove_created_folders`]).
pub fn writable_folder(dir: &Path) -> Result<(), Error> {
    // One level at a time, shallowest first, recording only the folders this call made: a
    // folder that was there (`new/../old`), or that another process made meanwhile, is
    // never the run's to remove.
    let missing: Vec<&Path> = dir.ancestors().take_while(|a| !a.as_os_str().is_empty() && !a.exists()).collect();
    let cannot = |e: std::io::Error| Error::Input(format!("cannot create {}: {e}", dir.display()));
    for folder in missing.into_iter().rev() {
        match fs::create_dir(folder) {
            // Deepest first in the list, so each is empty when its turn to go comes.
            Ok(()) => CREATED.lock().unwrap_or_else(|e| e.into_inner()).insert(0, folder.to_path_buf()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(cannot(e)),
        }
    }
    if !dir.is_dir() {
        return Err(cannot(std::io::Error::other("not a folder")));
    }
    TempFile::beside(&dir.join("probe"), None)
        .map(drop)
        .map_err(|e| Error::Input(format!("cannot write in {}: {e}", dir.display())))
}

/// Writes `bytes` to `path` as the module note says.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let fail = |e: std::io::Error| Error::Input(format!("cannot write {}: {e}", path.display()));
    let resolved = resolve(path).map_err(fail)?;
    match target_of(&resolved).map_err(fail)? {
        Target::InPlace => write_in_place(&resolved, bytes).map_err(fail),
        Target::New => TempFile::beside(&resolved, None).and_then(|t| t.finish(bytes, &resolved)).map_err(fail),
        Target::Replace(mode) => {
            may_replace(&resolved).map_err(fail)?;
            TempFile::beside(&resolved, Some(mode)).and_then(|t| t.finish(bytes, &resolved)).map_err(fail)
        }
    }
}

fn write_in_place(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).truncate(true).open(path)?;
    file.write_all(bytes)?;
    file.flush()
}

/// The charts' one typeface, built in: a system font library would be one more thing a
/// machine must have installed for the binary to start, charts drawn or not.
static SANS: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// Lets `draw` render a PNG into a temporary file, then writes it to `path` as the module
/// note says. Text in "sans-serif" is drawn in the built-in DejaVu Sans.
pub fn draw_png(path: &Path, draw: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), Error> {
    let fail = |e: String| Error::Input(format!("cannot draw {}: {e}", path.display()));
    static FONT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let registered = *FONT
        .get_or_init(|| plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, SANS).is_ok());
    if !registered {
        return Err(fail("the built-in font does not load".into()));
    }
    let resolved = resolve(path).map_err(|e| fail(e.to_string()))?;
    let target = target_of(&resolved).map_err(|e| fail(e.to_string()))?;
    // The drawing library picks the format from the temporary file's extension, and opens
    // the file again by name: it gets the old file's mode only once drawn (a read-only
    // chart could not be redrawn otherwise).
    if let Target::Replace(_) = target {
        may_replace(&resolved).map_err(|e| fail(e.to_string()))?;
    }
    let tmp = TempFile::beside_with(&resolved, None, ".png").map_err(|e| fail(e.to_string()))?;
    draw(&tmp.path).map_err(fail)?;
    match target {
        Target::InPlace => {
            let bytes = fs::read(&tmp.path).map_err(|e| fail(e.to_string()))?;
            write_in_place(&resolved, &bytes).map_err(|e| fail(e.to_string()))
        }
        Target::Replace(mode) => {
            fs::set_permissions(&tmp.path, mode).map_err(|e| fail(e.to_string()))?;
            tmp.persist(&resolved).map_err(|e| fail(e.to_string()))
        }
        Target::New => tmp.persist(&resolved).map_err(|e| fail(e.to_string())),
    }
}

/// The temporary files this process has open, removed by [`remove_temporary_files`].
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static COUNTER: AtomicU64 = AtomicU64::new(0);
const TEMP_SUFFIX: &str = ".xorgpu-tmp";

/// Removes every temporary file this process has open, says `message` on stderr and exits
/// with `code`: for a signal handler. The list stays locked until the process is gone, so
/// the main thread cannot make a new temporary file in between (it registers each before
/// creating it, and waits here).
pub fn exit_removing_temporary_files(code: i32, message: &str) -> ! {
    // A poisoned lock still holds the list.
    let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    remove_all(&live);
    remove_created_folders();
    // Not `eprintln!`, which panics when stderr is closed.
    let _ = writeln!(std::io::stderr(), "{message}");
    std::process::exit(code)
}

/// Folders [`writable_folder`] created, deepest first along each path.
static CREATED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes the folders [`writable_folder`] created that are still empty: for a run that
/// failed, so it leaves nothing behind.
pub fn remove_created_folders() {
    for dir in CREATED.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        // Only an empty folder goes: whatever was written into it stays.
        let _ = fs::remove_dir(dir);
    }
}

fn remove_all(paths: &[PathBuf]) {
    for path in paths {
        let _ = fs::remove_file(path);
    }
}

/// A temporary file beside its target, removed when dropped unless persisted.
struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    /// Creates `.<name>.<pid>.<n>.xorgpu-tmp` beside `target`, with `mode` (else a new
    /// file's mode), after removing any such file of `target`'s whose process is gone.
    fn beside(target: &Path, mode: Option<fs::Permissions>) -> std::io::Result<Self> {
        Self::beside_with(target, mode, "")
    }

    /// [`TempFile::beside`], the name ending in `extension` (".png", or "").
    fn beside_with(target: &Path, mode: Option<fs::Permissions>, extension: &str) -> std::io::Result<Self> {
        let folder = folder_of(target);
        let stem = temp_stem(target);
        remove_stale(folder, &stem);
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = folder.join(format!("{stem}{pid}.{n}{TEMP_SUFFIX}{extension}"));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o666);
        // Registered before it exists, so a signal between the two still removes it.
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(path.clone());
        let mut temp = TempFile { path: path.clone(), file: None };
        let file = options.open(&path)?;
        if let Some(mode) = mode {
            file.set_permissions(mode)?;
        }
        temp.file = Some(file);
        Ok(temp)
    }

    /// Writes `bytes`, syncs, and renames the file over `target`.
    fn finish(mut self, bytes: &[u8], target: &Path) -> std::io::Result<()> {
        let file = self.file.as_mut().expect("open until finished");
        file.write_all(bytes)?;
        file.sync_all()?;
        self.persist(target)
    }

    fn persist(mut self, target: &Path) -> std::io::Result<()> {
        self.file = None;
        fs::rename(&self.path, target)?;
        self.forget();
        Ok(())
    }

    fn forget(&self) {
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| p != &self.path);
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.file = None;
        if LIVE.lock().unwrap_or_else(|e| e.into_inner()).contains(&self.path) {
            let _ = fs::remove_file(&self.path);
            self.forget();
        }
    }
}

/// `.<name>.` for `target`, the name cut to 100 bytes (at a character boundary) so the
/// temporary name stays within the file system's limit wherever the target's does.
fn temp_stem(target: &Path) -> String {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut cut = name.len().min(100);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}.", &name[..cut])
}

/// Removes `<stem><pid>.<n>.xorgpu-tmp[.png]` files in `folder` whose process no longer runs.
/// Only where the process table can be read (/proc): elsewhere nothing is removed.
fn remove_stale(folder: &Path, stem: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(folder) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((rest, extension)) = name.strip_prefix(stem).and_then(|r| r.split_once(TEMP_SUFFIX)) else {
            continue;
        };
        if !matches!(extension, "" | ".png") {
            continue;
        }
        let Some((pid, n)) = rest.split_once('.') else { continue };
        if pid.parse::<u32>().is_err() || n.parse::<u64>().is_err() {
            continue;
        }
        if !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    /// What the signal handler removes: every temporary file the process has open, the
    /// chart's kind included, and nothing else.
    #[test]
    fn the_handlers_list_holds_every_open_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let keep = dir.path().join("keep.json");
        std::fs::write(&keep, "mine").unwrap();
        let a = super::TempFile::beside(&dir.path().join("a.json"), None).unwrap();
        let b = super::TempFile::beside_with(&dir.path().join("b.png"), None, ".png").unwrap();
        assert!(a.path.exists() && b.path.exists());
        let live = super::LIVE.lock().unwrap().clone();
        assert!(live.contains(&a.path) && live.contains(&b.path));
        // Only these two: other tests of this binary may have theirs open meanwhile.
        let ours: Vec<_> = live.into_iter().filter(|p| *p == a.path || *p == b.path).collect();
        super::remove_all(&ours);
        assert!(!a.path.exists() && !b.path.exists(), "both removed");
        assert!(keep.exists(), "a user's file is not on the list");
    }

    /// A read-only chart is redrawn by a process that may write it, and stays read-only.
    /// Root may write a 0444 file, so as root this holds the mode (the order it is set in
    /// matters); any other user is refused one, as a write would be (`may_replace`).
    #[cfg(unix)]
    #[test]
    fn a_read_only_chart_is_redrawn() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let chart = dir.path().join("c.png");
        std::fs::write(&chart, "old").unwrap();
        std::fs::set_permissions(&chart, std::fs::Permissions::from_mode(0o444)).unwrap();
        super::draw_png(&chart, |p| std::fs::write(p, "new").map_err(|e| e.to_string())).unwrap();
        assert_eq!(std::fs::read_to_string(&chart).unwrap(), "new");
        assert_eq!(std::fs::metadata(&chart).unwrap().permissions().mode() & 0o777, 0o444);
    }

    /// An output gets the mode a plain new file gets in the same folder.
    #[cfg(unix)]
    #[test]
    fn outputs_get_a_new_files_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        let out = dir.path().join("out.json");
        super::write_atomically(&out, b"{}").unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&out), mode(&plain));
        assert_eq!(std::fs::read(&out).unwrap(), b"{}");
    }
}
