//! The input stage of a page: plain bytes pass through, gzip bodies are inflated
//! incrementally. In `Auto` mode the first two bytes of each page decide.
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use flate2::write::{GzEncoder, MultiGzDecoder};
use flate2::Compression;

use crate::error::{EngineError, ErrorKind, Result};

/// Whether page bodies are gzip-compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GzipMode {
    Off,
    On,
    /// Sniff the gzip magic number (`1f 8b`) at the start of each page.
    Auto,
}

enum State {
    Undecided(Vec<u8>),
    Plain,
    Gzip(Box<MultiGzDecoder<Vec<u8>>>),
}

/// Turns raw page bytes into CSV bytes.
pub struct PageInput {
    mode: GzipMode,
    state: State,
}

/// Inflate in slices so that one huge compressed chunk never expands all at once.
const SLICE: usize = 256 * 1024;

impl PageInput {
    pub fn new(mode: GzipMode) -> Self {
        let state = Self::initial(mode);
        PageInput { mode, state }
    }

    fn initial(mode: GzipMode) -> State {
        match mode {
            GzipMode::Off => State::Plain,
            GzipMode::On => State::Gzip(Box::new(MultiGzDecoder::new(Vec::new()))),
            GzipMode::Auto => State::Undecided(Vec::new()),
        }
    }

    /// Passes `data` through, calling `sink` with each piece of CSV bytes.
    pub fn push(&mut self, data: &[u8], sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        match &mut self.state {
            State::Plain => sink(data),
            State::Undecided(held) => {
                held.extend_from_slice(data);
                if held.len() < 2 {
                    return Ok(());
                }
                let held = std::mem::take(held);
                self.decide(&held);
                self.push(&held, sink)
            }
            State::Gzip(dec) => {
                for piece in data.chunks(SLICE) {
                    dec.write_all(piece).map_err(gzip_error)?;
                    let out = std::mem::take(dec.get_mut());
                    if !out.is_empty() {
                        sink(&out)?;
                        // Hand the allocation back so the next slice reuses it.
                        let mut out = out;
                        out.clear();
                        *dec.get_mut() = out;
                    }
                }
                Ok(())
            }
        }
    }

    fn decide(&mut self, head: &[u8]) {
        self.state = if head.starts_with(&[0x1f, 0x8b]) {
            State::Gzip(Box::new(MultiGzDecoder::new(Vec::new())))
        } else {
            State::Plain
        };
    }

    /// Ends the current page: flushes held bytes and checks a gzip body is complete.
    /// The next bytes start a new page.
    pub fn end_page(&mut self, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let state = std::mem::replace(&mut self.state, Self::initial(self.mode));
        match state {
            State::Plain => Ok(()),
            State::Undecided(held) => {
                if held.is_empty() {
                    Ok(())
                } else {
                    sink(&held)
                }
            }
            State::Gzip(mut dec) => {
                dec.try_finish().map_err(gzip_error)?;
                let out = std::mem::take(dec.get_mut());
                if dec.header().is_none() && out.is_empty() {
                    // An empty body with gzip forced on: nothing was sent, nothing to check.
                    return Ok(());
                }
                check_complete(&dec)?;
                if out.is_empty() {
                    Ok(())
                } else {
                    sink(&out)
                }
            }
        }
    }
}

/// Writes one gzip member to `target`: `head`, then bytes `[start, end)` of the file at
/// `source`, compressed at `level` (0–9). Returns the compressed size. The header's mtime is
/// zero, so the same input always gives the same bytes.
pub fn compress_file_range(
    head: &[u8],
    source: &Path,
    start: u64,
    end: u64,
    target: &Path,
    level: u32,
) -> std::io::Result<u64> {
    let mut input = File::open(source)?;
    input.seek(SeekFrom::Start(start))?;
    let output = BufWriter::with_capacity(SLICE, File::create(target)?);
    let mut encoder = GzEncoder::new(output, Compression::new(level.min(9)));
    encoder.write_all(head)?;
    let wanted = end.saturating_sub(start);
    let copied = std::io::copy(&mut input.take(wanted), &mut encoder)?;
    if copied != wanted {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "{} ended after {copied} of {wanted} bytes",
                source.display()
            ),
        ));
    }
    let mut output = encoder.finish()?;
    output.flush()?;
    let file = output.into_inner().map_err(|e| e.into_error())?;
    Ok(file.metadata()?.len())
}

fn check_complete(dec: &MultiGzDecoder<Vec<u8>>) -> Result<()> {
    // `try_finish` succeeds on a body cut short; a missing header means nothing valid arrived.
    if dec.header().is_none() {
        return Err(EngineError::new(
            ErrorKind::Gzip,
            "the gzip body ended before its header was complete; the download was cut short: \
             fetch the page again",
        ));
    }
    Ok(())
}

fn gzip_error(e: std::io::Error) -> EngineError {
    EngineError::new(
        ErrorKind::Gzip,
        format!(
            "the gzip body is corrupt or was cut short ({e}): fetch it again; if the body is \
             not gzip at all, pass gzip=False"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn run(mode: GzipMode, pieces: &[&[u8]]) -> Result<Vec<u8>> {
        let mut input = PageInput::new(mode);
        let mut out = Vec::new();
        let mut sink = |b: &[u8]| {
            out.extend_from_slice(b);
            Ok(())
        };
        for p in pieces {
            input.push(p, &mut sink)?;
        }
        input.end_page(&mut sink)?;
        Ok(out)
    }

    #[test]
    fn auto_mode_inflates_gzip_split_anywhere_and_passes_plain_text() {
        let body = gz(b"\"Id\"\n\"001\"\n");
        for cut in 0..body.len() {
            let out = run(GzipMode::Auto, &[&body[..cut], &body[cut..]]).unwrap();
            assert_eq!(out, b"\"Id\"\n\"001\"\n");
        }
        assert_eq!(run(GzipMode::Auto, &[b"a", b"b\n"]).unwrap(), b"ab\n");
        assert_eq!(run(GzipMode::Auto, &[b"a"]).unwrap(), b"a");
    }

    #[test]
    fn a_compressed_file_range_inflates_to_head_and_range() {
        let dir = std::env::temp_dir().join(format!("sfbulk-gz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("rows.csv");
        let target = dir.join("page.gz");
        let rows: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("\"{i}\"\n").into_bytes())
            .collect();
        std::fs::write(&source, &rows).unwrap();
        let size = compress_file_range(b"\"Id\"\n", &source, 7, 70_000, &target, 1).unwrap();
        let body = std::fs::read(&target).unwrap();
        assert_eq!(size, body.len() as u64);
        let mut expected = b"\"Id\"\n".to_vec();
        expected.extend_from_slice(&rows[7..70_000]);
        assert_eq!(run(GzipMode::On, &[&body]).unwrap(), expected);
        // A range past the end of the file is an error, not a short page.
        let past = compress_file_range(b"", &source, 0, rows.len() as u64 + 1, &target, 1);
        assert!(past.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut body = gz(b"hello world, hello world");
        let n = body.len();
        body[n / 2] ^= 0xff;
        body[n / 2 + 1] ^= 0xff;
        assert!(run(GzipMode::On, &[&body]).is_err());
        assert!(run(GzipMode::On, &[b"not gzip at all"]).is_err());
    }
}
