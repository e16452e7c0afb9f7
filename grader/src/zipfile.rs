//! Writing a .zip: rawzip lays out the archive, flate2 deflates each member.
//! The Gradescope autograder zip is written with it; a submission's .zip
//! is read in batch/submission.rs.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// One member: its path in the archive, its bytes, its Unix permissions.
pub struct Member<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
    pub mode: u32,
}

/// Writes `members` into a new zip at `out`, each deflated.
pub fn write<'a>(out: &Path, members: impl IntoIterator<Item = Member<'a>>) -> Result<()> {
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut archive = rawzip::ZipArchiveWriter::new(std::io::BufWriter::new(file));
    // Stamped with the time of writing, as `zip` does (without a stamp
    // the members would carry DOS time zero, which is no valid date).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64);
    let now = rawzip::time::UtcDateTime::from_unix(now);
    for member in members {
        add(&mut archive, &member, now)
            .with_context(|| format!("cannot add {} to {}", member.name, out.display()))?;
    }
    archive
        .finish()
        .map_err(anyhow::Error::from)
        .and_then(|mut file| file.flush().map_err(Into::into))
        .with_context(|| format!("cannot write {}", out.display()))
}

fn add<W: Write>(
    archive: &mut rawzip::ZipArchiveWriter<W>,
    member: &Member<'_>,
    now: rawzip::time::UtcDateTime,
) -> Result<()> {
    let (mut entry, config) = archive
        .new_file(member.name)
        .compression_method(rawzip::CompressionMethod::DEFLATE)
        .last_modified(now)
        .unix_permissions(member.mode)
        .start()?;
    // `config.wrap` counts the uncompressed bytes and their CRC-32 for the
    // member's data descriptor.
    let encoder = flate2::write::DeflateEncoder::new(&mut entry, flate2::Compression::default());
    let mut writer = config.wrap(encoder);
    writer.write_all(member.bytes)?;
    let (encoder, descriptor) = writer.finish()?;
    encoder.finish()?;
    entry.finish(descriptor)?;
    Ok(())
}
