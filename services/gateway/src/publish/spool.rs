//! The bounded on-disk spool, the gateway's write-ahead log: every record, one JSON line each,
//! in numbered segment files, read in order from a cursor that moves over acknowledged
//! records and is saved at checkpoints. A line is in the OS once `append` returns (a killed
//! process loses nothing; a power cut may lose what was not synced, see [`Spool::sync`]). A
//! torn last line left by a crash is cut off when the spool is opened.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

const SEGMENT_SUFFIX: &str = ".seg";
const CURSOR_FILE: &str = "cursor.json";
const CURSOR_TMP: &str = "cursor.json.tmp";

/// A position in the spool: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Pos {
    /// Segment number.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}

/// One spooled line and where the next one starts.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Position just after this line.
    pub end: Pos,
    /// The line without its newline.
    pub line: Vec<u8>,
}

/// A spool that cannot take or give a record.
#[derive(Debug, Error)]
pub enum SpoolError {
    /// Appending would exceed the size limit.
    #[error("the spool is full ({bytes} of {max} bytes)")]
    Full {
        /// Bytes held.
        bytes: u64,
        /// Limit.
        max: u64,
    },
    /// The file system failed.
    #[error("spool {path}: {source}")]
    Io {
        /// File or directory.
        path: String,
        /// Error.
        #[source]
        source: std::io::Error,
    },
}

/// The spool directory and its state.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Segment numbers and lengths, oldest first.
    segments: VecDeque<(u64, u64)>,
    cursor: Pos,
    writer: Option<File>,
    /// Writers of finished segments not synced since.
    unsynced: Vec<File>,
    records: u64,
    /// The line being appended and its newline, kept from one append to the next.
    scratch: Vec<u8>,
}

impl Spool {
    /// Opens (creating) the spool in `dir`, repairing a torn tail and counting what is left.
    pub fn open(dir: &Path, max_bytes: u64, segment_bytes: u64) -> Result<Self, SpoolError> {
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let mut ids = list_segments(dir)?;
        ids.sort_unstable();
        let mut cursor: Pos = match fs::read(dir.join(CURSOR_FILE)) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or(Pos {
                segment: 0,
                offset: 0,
            }),
            Err(_) => Pos {
                segment: 0,
                offset: 0,
            },
        };
        let mut segments = VecDeque::new();
        for id in ids {
            let path = segment_path(dir, id);
            if id < cursor.segment {
                fs::remove_file(&path).map_err(|e| io(&path, e))?;
                continue;
            }
            segments.push_back((id, repair(&path)?));
        }
        match segments.front() {
            Some(&(first, _)) if first > cursor.segment => {
                cursor = Pos {
                    segment: first,
                    offset: 0,
                }
            }
            None => {
                cursor = Pos {
                    segment: cursor.segment + 1,
                    offset: 0,
                }
            }
            _ => {}
        }
        let mut spool = Self {
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes,
            segments,
            cursor,
            writer: None,
            unsynced: Vec::new(),
            scratch: Vec::new(),
            records: 0,
        };
        spool.records = spool.count_from_cursor()?;
        Ok(spool)
    }

    /// Undelivered records.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Bytes of undelivered records.
    pub fn bytes(&self) -> u64 {
        let total: u64 = self.segments.iter().map(|(_, len)| len).sum();
        let spent = match self.segments.front() {
            Some(&(id, _)) if id == self.cursor.segment => self.cursor.offset,
            _ => 0,
        };
        total.saturating_sub(spent)
    }

    /// The size limit.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Appends one record (a line without newlines); returns the position just after it.
    pub fn append(&mut self, line: &[u8]) -> Result<Pos, SpoolError> {
        let size = line.len() as u64 + 1;
        if self.bytes() + size > self.max_bytes {
            return Err(SpoolError::Full {
                bytes: self.bytes(),
                max: self.max_bytes,
            });
        }
        let rotate = self
            .segments
            .back()
            .is_none_or(|&(_, len)| len >= self.segment_bytes);
        if rotate || self.writer.is_none() {
            self.open_writer(rotate)?;
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(line);
        self.scratch.push(b'\n');
        let (id, len) = self.segments.back_mut().expect("a segment is open");
        self.writer
            .as_mut()
            .expect("a writer is open")
            .write_all(&self.scratch)
            .map_err(|e| io(&segment_path(&self.dir, *id), e))?;
        *len += size;
        self.records += 1;
        Ok(Pos {
            segment: *id,
            offset: *len,
        })
    }

    /// Flushes appended lines to the disk itself (`fdatasync`), for power-loss durability.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        for file in self.sync_handles() {
            file.sync_data().map_err(|e| io(&self.dir, e))?;
        }
        Ok(())
    }

    /// Handles on the files appended to since the last call (the current one cloned), to
    /// sync them without holding the spool.
    pub fn sync_handles(&mut self) -> Vec<File> {
        let mut files = std::mem::take(&mut self.unsynced);
        files.extend(self.writer.as_ref().and_then(|w| w.try_clone().ok()));
        files
    }

    /// When the cursor was last saved.
    pub fn checkpoint_time(&self) -> Option<std::time::SystemTime> {
        fs::metadata(self.dir.join(CURSOR_FILE))
            .and_then(|m| m.modified())
            .ok()
    }

    /// The position after the last record.
    pub fn end(&self) -> Pos {
        self.segments.back().map_or(self.cursor, |&(id, len)| Pos {
            segment: id,
            offset: len,
        })
    }

    /// Where delivery resumes: the first record not known to be acknowledged.
    pub fn cursor(&self) -> Pos {
        self.cursor
    }

    fn open_writer(&mut self, new_segment: bool) -> Result<(), SpoolError> {
        if let (true, Some(old)) = (new_segment, self.writer.take()) {
            self.unsynced.push(old);
        }
        if new_segment {
            let id = self
                .segments
                .back()
                .map_or(self.cursor.segment, |&(id, _)| id + 1);
            self.segments.push_back((id, 0));
        }
        let &(id, _) = self.segments.back().expect("a segment exists");
        let path = segment_path(&self.dir, id);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        self.writer = Some(file);
        Ok(())
    }

    /// Up to `max` records from the cursor on, in order.
    pub fn read(&self, max: usize) -> Result<Vec<Entry>, SpoolError> {
        let mut out = Vec::new();
        for &(id, len) in &self.segments {
            if id < self.cursor.segment {
                continue;
            }
            let start = if id == self.cursor.segment {
                self.cursor.offset
            } else {
                0
            };
            if start >= len {
                continue;
            }
            let path = segment_path(&self.dir, id);
            let mut file = File::open(&path).map_err(|e| io(&path, e))?;
            file.seek(SeekFrom::Start(start))
                .map_err(|e| io(&path, e))?;
            let mut reader = BufReader::new(file.take_len(len - start));
            let mut offset = start;
            while out.len() < max {
                let mut line = Vec::new();
                let n = reader
                    .read_until(b'\n', &mut line)
                    .map_err(|e| io(&path, e))?;
                if n == 0 || line.last() != Some(&b'\n') {
                    break;
                }
                offset += n as u64;
                line.pop();
                out.push(Entry {
                    end: Pos {
                        segment: id,
                        offset,
                    },
                    line,
                });
            }
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// Marks everything before `to` delivered (`count` records), deleting spent segments.
    /// The cursor is saved by [`Spool::checkpoint`], not here: a crash before the next
    /// checkpoint sends the records since the last one again.
    pub fn advance(&mut self, to: Pos, count: u64) -> Result<(), SpoolError> {
        self.cursor = to;
        self.records = self.records.saturating_sub(count);
        while let Some(&(id, len)) = self.segments.front() {
            let spent = id < self.cursor.segment
                || (id == self.cursor.segment && self.cursor.offset >= len);
            if !spent || self.segments.len() == 1 {
                break;
            }
            self.segments.pop_front();
            let path = segment_path(&self.dir, id);
            fs::remove_file(&path).map_err(|e| io(&path, e))?;
            if self.cursor.segment <= id {
                self.cursor = Pos {
                    segment: id + 1,
                    offset: 0,
                };
            }
        }
        Ok(())
    }

    /// Saves the cursor (a small file replaced by rename).
    pub fn checkpoint(&self) -> Result<(), SpoolError> {
        self.save_cursor()
    }

    fn save_cursor(&self) -> Result<(), SpoolError> {
        let tmp = self.dir.join(CURSOR_TMP);
        let body = serde_json::to_vec(&self.cursor).expect("a position serializes");
        fs::write(&tmp, body).map_err(|e| io(&tmp, e))?;
        let target = self.dir.join(CURSOR_FILE);
        fs::rename(&tmp, &target).map_err(|e| io(&target, e))
    }

    /// Counting reads every spooled line once at start-up; the spool is bounded.
    fn count_from_cursor(&self) -> Result<u64, SpoolError> {
        Ok(self.read(usize::MAX)?.len() as u64)
    }
}

/// Reads at most `len` bytes of a file.
trait TakeLen {
    fn take_len(self, len: u64) -> std::io::Take<File>;
}

impl TakeLen for File {
    fn take_len(self, len: u64) -> std::io::Take<File> {
        std::io::Read::take(self, len)
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}{SEGMENT_SUFFIX}"))
}

fn list_segments(dir: &Path) -> Result<Vec<u64>, SpoolError> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let name = entry.map_err(|e| io(dir, e))?.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name
            .strip_suffix(SEGMENT_SUFFIX)
            .and_then(|n| n.parse().ok())
        {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Cuts a segment back to its last complete line; returns its length.
fn repair(path: &Path) -> Result<u64, SpoolError> {
    let bytes = fs::read(path).map_err(|e| io(path, e))?;
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if keep < bytes.len() {
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io(path, e))?;
        f.set_len(keep as u64).map_err(|e| io(path, e))?;
    }
    Ok(keep as u64)
}

fn io(path: &Path, source: std::io::Error) -> SpoolError {
    SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        std::env::temp_dir().join(format!("docket-spool-{}", uuid::Uuid::now_v7().simple()))
    }

    fn lines(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| String::from_utf8(e.line.clone()).unwrap())
            .collect()
    }

    #[test]
    fn keeps_order_across_segments_and_reopening() {
        let d = dir();
        let mut s = Spool::open(&d, 10_000, 20).unwrap();
        for i in 0..10 {
            s.append(format!("record-{i}").as_bytes()).unwrap();
        }
        let first = s.read(4).unwrap();
        assert_eq!(
            lines(&first),
            ["record-0", "record-1", "record-2", "record-3"]
        );
        s.advance(first[3].end, 4).unwrap();
        s.checkpoint().unwrap();
        drop(s);
        let mut s = Spool::open(&d, 10_000, 20).unwrap();
        assert_eq!(s.records(), 6);
        let rest = s.read(100).unwrap();
        assert_eq!(lines(&rest)[0], "record-4");
        assert_eq!(rest.len(), 6);
        s.advance(rest[5].end, 6).unwrap();
        assert!(s.is_empty());
        assert_eq!(s.bytes(), 0);
        s.checkpoint().unwrap();
        let end = s.append(b"again").unwrap();
        assert_eq!(end, s.end());
        let s = Spool::open(&d, 10_000, 20).unwrap();
        assert_eq!(lines(&s.read(10).unwrap()), ["again"]);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn refuses_beyond_its_limit_and_cuts_torn_tails() {
        let d = dir();
        let mut s = Spool::open(&d, 12, 1_000).unwrap();
        s.append(b"12345").unwrap();
        s.append(b"12345").unwrap();
        assert!(matches!(s.append(b"1"), Err(SpoolError::Full { .. })));
        drop(s);
        let seg = segment_path(&d, 1);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"torn").unwrap();
        let s = Spool::open(&d, 12, 1_000).unwrap();
        assert_eq!(s.records(), 2);
        assert_eq!(s.bytes(), 12);
        fs::remove_dir_all(d).unwrap();
    }
}
