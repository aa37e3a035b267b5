//! File operations under `download.dir` that never go through a link (rule 3 of the integrity
//! contract, RELIABILITY.md): every folder below the root must be a real folder, files are
//! opened with `O_NOFOLLOW`, temp files are created with `O_EXCL`, modes are set on the open
//! descriptor (`fchmod`), and a partial file with a second hard link is refused. The root
//! itself may be a symlink: operators point `download.dir` at a bigger disk that way.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path};

use super::{StoreError, io_err};

/// Folders this tool creates: the service's group may read, others may not.
pub const DIR_MODE: u32 = 0o750;
/// Data files, manifests and sidecars.
pub const FILE_MODE: u32 = 0o640;

fn link_error(path: &Path, what: &'static str) -> StoreError {
    StoreError::Link {
        path: path.to_path_buf(),
        what,
    }
}

/// Checks that every component of `dir` below `root` is a real folder (not a symlink, not a
/// file); with `create`, missing ones are made (0750). `dir` must lie below `root`.
///
/// # Errors
/// [`StoreError::Link`] naming the first component that is not a real folder; I/O errors.
pub fn real_dirs_below(root: &Path, dir: &Path, create: bool) -> Result<(), StoreError> {
    let rel = dir.strip_prefix(root).map_err(|_| StoreError::UnsafeName {
        what: dir.display().to_string(),
        reason: "it is not inside the download directory".into(),
    })?;
    let mut cur = root.to_path_buf();
    for part in rel.components() {
        let Component::Normal(name) = part else {
            return Err(StoreError::UnsafeName {
                what: dir.display().to_string(),
                reason: "it has a component that is not a plain name".into(),
            });
        };
        cur.push(name);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_dir() => continue,
            Ok(m) if m.file_type().is_symlink() => return Err(link_error(&cur, "a symbolic link")),
            Ok(_) => return Err(link_error(&cur, "not a folder")),
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {}
            Err(e) => return Err(io_err("inspect", &cur)(e)),
        }
        match fs::DirBuilder::new().mode(DIR_MODE).create(&cur) {
            // The mode asked for, whatever the umask took away (systemd's UMask=0077).
            Ok(()) => fs::set_permissions(&cur, fs::Permissions::from_mode(DIR_MODE))
                .map_err(io_err("chmod", &cur))?,
            // Made by someone else in between: check what it is on the next round.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("create", &cur)(e)),
        }
        if !fs::symlink_metadata(&cur).is_ok_and(|m| m.file_type().is_dir()) {
            return Err(link_error(&cur, "not a real folder"));
        }
    }
    Ok(())
}

/// Opens (creating it 0640 if missing) the partial file for reading and writing, never through
/// a symlink, and refuses one that is not a regular file or has another hard link (writing
/// would change a file elsewhere).
///
/// # Errors
/// [`StoreError::Link`] for a link; I/O errors.
pub fn open_partial(path: &Path) -> Result<File, StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    check_own(path, &file)?;
    file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .map_err(io_err("chmod", path))?;
    Ok(file)
}

/// A regular file with one link: safe to write, truncate and chmod.
fn check_own(path: &Path, file: &File) -> Result<(), StoreError> {
    let meta = file.metadata().map_err(io_err("inspect", path))?;
    if !meta.file_type().is_file() {
        return Err(link_error(path, "not a regular file"));
    }
    if meta.nlink() > 1 {
        return Err(link_error(path, "a file with another hard link"));
    }
    Ok(())
}

/// `O_NOFOLLOW` on a symlink fails with `ELOOP`: say what it is.
fn open_error(path: &Path, e: io::Error) -> StoreError {
    if e.raw_os_error() == Some(libc::ELOOP) {
        link_error(path, "a symbolic link")
    } else {
        io_err("open", path)(e)
    }
}

/// Opens the run lock (0600: it holds the pid), never through a link.
///
/// # Errors
/// [`StoreError::Link`] for a link; I/O errors.
pub fn open_lock(path: &Path) -> Result<File, StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    check_own(path, &file)?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io_err("chmod", path))?;
    Ok(file)
}

/// The start of every temp file name [`write_atomic`] uses for `path`: `.<name>.tmp-`, then the
/// writer's pid.
fn temp_prefix(path: &Path) -> String {
    format!(
        ".{}.tmp-",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    )
}

/// Removes `path`'s temp files of other processes (regular files only; best effort: one left
/// behind is only clutter, and is tried again on the next pass).
pub fn remove_stale_temps(path: &Path) {
    let prefix = temp_prefix(path);
    let own = std::process::id().to_string();
    let Some(dir) = path.parent() else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let pid = name.strip_prefix(prefix.as_str());
        if pid.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p != own)
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Writes `bytes` to `path` atomically: a temp file in the same folder (created with `O_EXCL`,
/// so a planted link is never followed), fsync, rename, fsync the folder. A reader sees the old
/// content or the new, never a torn one. The rename replaces a link at `path`, never its target.
///
/// # Errors
/// I/O errors, naming the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    write_atomic_mode(path, bytes, FILE_MODE)
}

/// [`write_atomic`] with the file's mode (the metrics file is for another user to read).
///
/// # Errors
/// I/O errors, naming the path.
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!("{}{}", temp_prefix(path), std::process::id()));
    let create = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
    };
    let mut f = match create() {
        Ok(f) => f,
        // Our own pid's leftover (a pid reused after a crash), or something planted: unlink
        // the name (never its target) and create afresh.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(&tmp).map_err(io_err("remove", &tmp))?;
            create().map_err(io_err("create", &tmp))?
        }
        Err(e) => return Err(io_err("create", &tmp)(e)),
    };
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err("chmod", &tmp))?;
    f.write_all(bytes).map_err(io_err("write", &tmp))?;
    f.sync_all().map_err(io_err("fsync", &tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_err("rename", path))?;
    sync_dir(dir)
}

pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync", dir))
}

/// Free bytes for an unprivileged writer on the file system holding `path`.
pub fn free_space(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}
