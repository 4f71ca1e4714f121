//! The file operations the storage layer uses, and nothing else: the operating system's in a
//! normal build, and under madsim (`--cfg madsim`) an in-memory disk of our own that keeps,
//! for each file, what was written and what was synced, so that a simulated crash
//! ([`crash`]) loses exactly the writes no fsync covered (madsim's own file system does not
//! model that). The storage code above it is the same in both builds.

#[cfg(not(madsim))]
mod imp {
    use std::io::Write;
    use std::path::{Path, PathBuf};

    /// A file open for appending (or created to be written whole).
    pub struct File(std::fs::File);

    impl File {
        /// Creates (or truncates) a file.
        pub fn create(path: &Path) -> std::io::Result<File> {
            std::fs::File::create(path).map(File)
        }

        /// Opens a file for appending, creating it if needed.
        pub fn append(path: &Path) -> std::io::Result<File> {
            std::fs::OpenOptions::new().create(true).append(true).open(path).map(File)
        }

        /// Writes all of `bytes` at the end.
        pub fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            self.0.write_all(bytes)
        }

        /// Makes the file's data durable.
        pub fn sync(&mut self) -> std::io::Result<()> {
            self.0.sync_data()
        }
    }

    /// Creates a directory and its parents.
    pub fn create_dir_all(path: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(path)
    }

    /// The files of a directory: name and path.
    pub fn list(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            out.push((entry.file_name().to_string_lossy().into_owned(), entry.path()));
        }
        Ok(out)
    }

    /// Reads a whole file.
    pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    /// Removes a file.
    pub fn remove(path: &Path) -> std::io::Result<()> {
        std::fs::remove_file(path)
    }

    /// Renames a file over another.
    pub fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::rename(from, to)
    }

    /// Makes a directory's names durable.
    pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
        std::fs::File::open(dir)?.sync_all()
    }

    /// Cuts a file to `len` bytes, durably.
    pub fn truncate(path: &Path, len: u64) -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    /// A file's length.
    pub fn len(path: &Path) -> std::io::Result<u64> {
        std::fs::metadata(path).map(|m| m.len())
    }

    /// Whether a path exists.
    pub fn exists(path: &Path) -> bool {
        path.exists()
    }
}

#[cfg(madsim)]
mod imp {
    use std::collections::BTreeMap;
    use std::io::{Error, ErrorKind};
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, MutexGuard};

    /// A file's bytes, and how many of them a sync made durable.
    #[derive(Default)]
    struct Content {
        data: Vec<u8>,
        synced: usize,
    }

    /// Every simulated node's files, by path (each node has a data directory of its own).
    static DISK: Mutex<BTreeMap<PathBuf, Content>> = Mutex::new(BTreeMap::new());
    /// Directories.
    static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    fn disk() -> MutexGuard<'static, BTreeMap<PathBuf, Content>> {
        DISK.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn missing(path: &Path) -> Error {
        Error::new(ErrorKind::NotFound, format!("{} does not exist", path.display()))
    }

    /// A file open for writing.
    pub struct File(PathBuf);

    impl File {
        /// Creates (or truncates) a file.
        pub fn create(path: &Path) -> std::io::Result<File> {
            disk().insert(path.to_path_buf(), Content::default());
            Ok(File(path.to_path_buf()))
        }

        /// Opens a file for appending, creating it if needed.
        pub fn append(path: &Path) -> std::io::Result<File> {
            disk().entry(path.to_path_buf()).or_default();
            Ok(File(path.to_path_buf()))
        }

        /// Writes all of `bytes` at the end (not durable until synced).
        pub fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            let mut disk = disk();
            let content = disk.get_mut(&self.0).ok_or_else(|| missing(&self.0))?;
            content.data.extend_from_slice(bytes);
            Ok(())
        }

        /// Makes what was written durable.
        pub fn sync(&mut self) -> std::io::Result<()> {
            let mut disk = disk();
            let content = disk.get_mut(&self.0).ok_or_else(|| missing(&self.0))?;
            content.synced = content.data.len();
            Ok(())
        }
    }

    /// Creates a directory (names are durable at once in this model).
    pub fn create_dir_all(path: &Path) -> std::io::Result<()> {
        let mut dirs = DIRS.lock().unwrap_or_else(|e| e.into_inner());
        if !dirs.iter().any(|d| d == path) {
            dirs.push(path.to_path_buf());
        }
        Ok(())
    }

    /// The files directly in a directory.
    pub fn list(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
        Ok(disk()
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .map(|p| (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), p.clone()))
            .collect())
    }

    /// Reads a whole file (what was written, synced or not: the process sees its writes).
    pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
        disk().get(path).map(|c| c.data.clone()).ok_or_else(|| missing(path))
    }

    /// Removes a file.
    pub fn remove(path: &Path) -> std::io::Result<()> {
        disk().remove(path).map(drop).ok_or_else(|| missing(path))
    }

    /// Renames a file over another (atomic, durable at once in this model).
    pub fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
        let mut disk = disk();
        let content = disk.remove(from).ok_or_else(|| missing(from))?;
        disk.insert(to.to_path_buf(), content);
        Ok(())
    }

    /// Names are durable at once in this model.
    pub fn sync_dir(_dir: &Path) -> std::io::Result<()> {
        Ok(())
    }

    /// Cuts a file to `len` bytes, durably.
    pub fn truncate(path: &Path, len: u64) -> std::io::Result<()> {
        let mut disk = disk();
        let content = disk.get_mut(path).ok_or_else(|| missing(path))?;
        content.data.truncate(len as usize);
        content.synced = content.synced.min(content.data.len());
        Ok(())
    }

    /// A file's length.
    pub fn len(path: &Path) -> std::io::Result<u64> {
        disk().get(path).map(|c| c.data.len() as u64).ok_or_else(|| missing(path))
    }

    /// Whether a file or directory exists.
    pub fn exists(path: &Path) -> bool {
        disk().contains_key(path) || DIRS.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|d| d == path)
    }

    /// Removes everything under `root` (a simulation starting afresh: the disk is shared by
    /// every simulation of the process, and madsim's determinism check runs a seed twice).
    pub fn remove_all(root: &Path) {
        disk().retain(|path, _| !path.starts_with(root));
        DIRS.lock().unwrap_or_else(|e| e.into_inner()).retain(|d| !d.starts_with(root));
    }

    /// A crash of the node whose data directory is `root`: every file under it loses what no
    /// sync covered (a torn tail keeps a prefix of it, `keep` bytes at most).
    pub fn crash(root: &Path, keep: usize) {
        for (path, content) in disk().iter_mut() {
            if path.starts_with(root) {
                let torn = (content.data.len() - content.synced).min(keep);
                content.data.truncate(content.synced + torn);
                content.synced = content.data.len();
            }
        }
    }
}

pub use imp::*;
