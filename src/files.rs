//! Output files are written whole or not at all: into a temporary file beside the target,
//! then renamed over it, so an earlier file at that path is replaced whole or left intact.

use std::io::Write;
use std::path::Path;

use crate::Error;

/// The folder a file at `path` lives in ("." for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Fails early, before any work, when `path`'s folder does not exist or cannot be written.
pub fn check_writable(path: &Path) -> Result<(), Error> {
    tempfile::NamedTempFile::new_in(folder_of(path))
        .map(drop)
        .map_err(|e| Error::Input(format!("cannot write {}: {e}", path.display())))
}

/// A temporary file beside `path` that becomes `path` on `persist`. Created with the mode a
/// plain new file gets (0666 less the umask), not a temporary file's private 0600, so the
/// output ends up readable as any other file the user makes.
fn temp_beside(path: &Path, suffix: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.suffix(suffix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(folder_of(path))
}

/// Creates the folder `dir` if need be and fails early, before any work, when it cannot be
/// written to.
pub fn writable_folder(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Input(format!("cannot create {}: {e}", dir.display())))?;
    tempfile::NamedTempFile::new_in(dir)
        .map(drop)
        .map_err(|e| Error::Input(format!("cannot write in {}: {e}", dir.display())))
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let fail = |e: std::io::Error| Error::Input(format!("cannot write {}: {e}", path.display()));
    let mut tmp = temp_beside(path, "").map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// The charts' one typeface, built in: a system font library would be one more thing a
/// machine must have installed for the binary to start, charts drawn or not.
static SANS: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// Lets `draw` render a PNG into a temporary file beside `path`, then renames it over `path`.
/// Text in "sans-serif" is drawn in the built-in DejaVu Sans.
pub fn draw_png(path: &Path, draw: impl FnOnce(&Path) -> Result<(), String>) -> Result<(), Error> {
    let fail = |e: String| Error::Input(format!("cannot draw {}: {e}", path.display()));
    static FONT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let registered = *FONT
        .get_or_init(|| plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, SANS).is_ok());
    if !registered {
        return Err(fail("the built-in font does not load".into()));
    }
    let tmp = temp_beside(path, ".png").map_err(|e| fail(e.to_string()))?;
    draw(tmp.path()).map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
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
