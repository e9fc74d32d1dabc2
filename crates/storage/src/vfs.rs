//! The narrow file-IO trait every byte of this crate goes through, and its
//! real backend on `std::fs`.
//!
//! Why a trait: the claims of this crate ("reported durable survives any
//! crash", "a torn write is never accepted") can only be tested by crashing
//! the disk at chosen points and tearing writes, which a real file system can
//! not do on demand. `SimVfs` (module `sim`) implements the same trait with a
//! model of the page cache. The trait is rooted at one directory and names are
//! plain file names: the store keeps every file in one directory so one
//! directory fsync covers all creates, renames and removes.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One open file. Positional IO only: the store always knows its offsets.
pub trait VfsFile: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read
    /// (fewer only at end of file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf` at `offset`, extending the file if needed.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes the file's data (and size) durable: `fdatasync`.
    fn sync(&self) -> io::Result<()>;
    /// Truncates or extends the file.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Current size.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// A directory of files.
pub trait Vfs: Send + Sync {
    /// Opens an existing file for reading and writing.
    fn open(&self, name: &str) -> io::Result<Arc<dyn VfsFile>>;
    /// Creates a new empty file; fails if it exists.
    fn create(&self, name: &str) -> io::Result<Arc<dyn VfsFile>>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Names of all files in the directory.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Makes creates, renames and removes durable: `fsync` of the directory.
    fn sync_dir(&self) -> io::Result<()>;
}

/// Reads exactly `buf.len()` bytes at `offset` or fails with `UnexpectedEof`.
pub fn read_exact_at(f: &dyn VfsFile, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    // Bounded: every iteration reads at least one byte or returns.
    while done < buf.len() {
        let n = f.read_at(&mut buf[done..], offset + done as u64)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read"));
        }
        done += n;
    }
    Ok(())
}

/// Reads a whole file into memory (used by recovery, bounded by file size).
pub fn read_all(f: &dyn VfsFile) -> io::Result<Vec<u8>> {
    let len = f.len()?;
    let mut buf = vec![0u8; len as usize];
    read_exact_at(f, &mut buf, 0)?;
    Ok(buf)
}

/// The real backend: a directory on a real file system.
#[derive(Debug, Clone)]
pub struct StdVfs {
    dir: PathBuf,
}

impl StdVfs {
    /// Uses (and creates if needed) `dir`.
    pub fn new(dir: impl AsRef<Path>) -> io::Result<StdVfs> {
        std::fs::create_dir_all(dir.as_ref())?;
        Ok(StdVfs {
            dir: dir.as_ref().to_path_buf(),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        debug_assert!(!name.contains('/'), "names are plain file names");
        self.dir.join(name)
    }
}

struct StdFile(File);

impl VfsFile for StdFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.0, buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.0, buf, offset)
    }
    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

impl Vfs for StdVfs {
    fn open(&self, name: &str) -> io::Result<Arc<dyn VfsFile>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.path(name))?;
        Ok(Arc::new(StdFile(f)))
    }
    fn create(&self, name: &str) -> io::Result<Arc<dyn VfsFile>> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.path(name))?;
        Ok(Arc::new(StdFile(f)))
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        std::fs::rename(self.path(from), self.path(to))
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.path(name))
    }
    fn list(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            if let Some(n) = e?.file_name().to_str() {
                out.push(n.to_string());
            }
        }
        Ok(out)
    }
    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_vfs_basic_ops() {
        let dir = std::env::temp_dir().join(format!("slotraft-vfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let v = StdVfs::new(&dir).unwrap();
        let f = v.create("a").unwrap();
        assert!(v.create("a").is_err(), "create must not clobber");
        f.write_at(b"hello", 0).unwrap();
        f.write_at(b"!", 5).unwrap();
        f.sync().unwrap();
        assert_eq!(f.len().unwrap(), 6);
        let mut b = [0u8; 6];
        read_exact_at(&*f, &mut b, 0).unwrap();
        assert_eq!(&b, b"hello!");
        f.set_len(2).unwrap();
        assert_eq!(read_all(&*v.open("a").unwrap()).unwrap(), b"he");
        v.rename("a", "b").unwrap();
        v.sync_dir().unwrap();
        assert_eq!(v.list().unwrap(), vec!["b".to_string()]);
        v.remove("b").unwrap();
        assert!(v.list().unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
