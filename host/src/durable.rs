//! Replacing a file so that a crash leaves either its old content or its new one, never a
//! torn or empty file: write a temporary next to it, fsync it, rename it over the file, and
//! fsync the directory (without which the rename itself may not survive a power loss).
//! Every file a node keeps outside the log is written this way.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes`.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |w| w.write_all(bytes))
}

/// Replaces `path` with what `fill` writes (for content too large to build in memory).
pub fn write_with(path: &Path, fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>) -> io::Result<()> {
    let tmp = temp_path(path);
    let written = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        fill(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    sync_dir(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
}

/// Where `path`'s new content is written before it replaces it: `<name>.tmp`, which the
/// owners of directories with leftovers to clean recognise by its extension.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// The content of `path`, refused (InvalidData) if over `max` bytes: a file on disk is
/// bounded before it is read (a huge file, or a link to `/dev/zero`, would take the memory).
pub fn read(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    File::open(path)?.take(max as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{} is over {max} bytes", path.display())));
    }
    Ok(bytes)
}

/// Makes the directory's entries (files created, renamed or removed in it) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and its missing parents so that they survive a power loss: each new
/// directory's entry in its parent is synced, as a renamed file's is.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.exists()).collect();
    std::fs::create_dir_all(dir)?;
    for new in missing {
        sync_dir(new.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_is_read_only_within_its_bound() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read(&path, 5).unwrap(), b"12345");
        assert_eq!(read(&path, 4).unwrap_err().kind(), io::ErrorKind::InvalidData);
        // Endless: only the bound and one byte are read.
        assert_eq!(read(Path::new("/dev/zero"), 1 << 20).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn directories_are_created_with_their_parents_and_again_without_harm() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data").join("snapshots");
        create_dir_all(&dir).unwrap();
        assert!(dir.is_dir());
        create_dir_all(&dir).unwrap();
        assert_eq!(names(tmp.path()), vec!["data"]);
        // Under a file: an error, not a panic.
        std::fs::write(tmp.path().join("file"), b"").unwrap();
        assert!(create_dir_all(&tmp.path().join("file").join("sub")).is_err());
    }

    #[test]
    fn replaces_whole_and_leaves_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("members.json");
        write(&path, b"first").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        write(&path, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
        assert_eq!(names(tmp.path()), vec!["members.json"]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_content() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("module.wasm");
        write(&path, b"old").unwrap();
        let failed = write_with(&path, |w| {
            w.write_all(b"half of the n")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(tmp.path()), vec!["module.wasm"]);
        // A temporary left by a crash is simply replaced by the next write.
        std::fs::write(temp_path(&path), b"torn").unwrap();
        write(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(names(tmp.path()), vec!["module.wasm"]);
    }
}
